;; proxybench's gate filter as WebAssembly, run by wasmtime (Cranelift JIT)
;; and by wasmi (interpreter). The same decision as `pb_dynamic::native`:
;;   a header `x-pb-deny` (any value)          -> 403
;;   no header `x-pb-token`                    -> 401
;;   the first `x-pb-token` is not the token   -> 403
;;   otherwise                                 -> 0 (forward)
;; Header names compare case-insensitively, values byte for byte.
;;
;; The host's side of the contract (any module may implement it):
;;   export "memory"              the module's memory
;;   export "input" () -> i32     where the host writes the request head
;;   export "decide" (len) -> i32 0 to forward, else the status to answer
;; The head is written as its request line `METHOD SP TARGET LF`, then one
;; `name:value LF` line per header in the order received.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "x-pb-deny")
  (data (i32.const 16) "x-pb-token")
  (data (i32.const 32) "pb-open-sesame")
  (global $input i32 (i32.const 1024))

  (func (export "input") (result i32)
    (global.get $input))

  ;; [a, a+n) equals the lower-case constant [b, b+m), A-Z folded to a-z.
  (func $eq_fold (param $a i32) (param $n i32) (param $b i32) (param $m i32) (result i32)
    (local $i i32)
    (local $c i32)
    (if (i32.ne (local.get $n) (local.get $m))
      (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $a) (local.get $i))))
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 65)) (i32.const 26))
          (then (local.set $c (i32.or (local.get $c) (i32.const 32)))))
        (if (i32.ne (local.get $c) (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; [a, a+n) equals [b, b+m) byte for byte.
  (func $eq (param $a i32) (param $n i32) (param $b i32) (param $m i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $n) (local.get $m))
      (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "decide") (param $len i32) (result i32)
    (local $p i32)
    (local $end i32)
    (local $line i32)
    (local $colon i32)
    (local $c i32)
    (local $deny i32)
    (local $token i32) ;; 0 absent, 1 the token, 2 another value
    (local.set $p (global.get $input))
    (local.set $end (i32.add (global.get $input) (local.get $len)))
    ;; past the request line
    (block $skipped
      (loop $skip
        (br_if $skipped (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $skipped (i32.eq (local.get $c) (i32.const 10)))
        (br $skip)))
    ;; one header per line
    (block $headers_done
      (loop $headers
        (br_if $headers_done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $line (local.get $p))
        (local.set $colon (i32.const 0))
        (block $eol
          (loop $scan
            (br_if $eol (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $c (i32.load8_u (local.get $p)))
            (br_if $eol (i32.eq (local.get $c) (i32.const 10)))
            (if (i32.and (i32.eq (local.get $c) (i32.const 58)) (i32.eqz (local.get $colon)))
              (then (local.set $colon (local.get $p))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $scan)))
        (if (local.get $colon)
          (then
            (if (call $eq_fold (local.get $line) (i32.sub (local.get $colon) (local.get $line))
                               (i32.const 0) (i32.const 9))
              (then (local.set $deny (i32.const 1))))
            (if (i32.and (i32.eqz (local.get $token))
                         (call $eq_fold (local.get $line) (i32.sub (local.get $colon) (local.get $line))
                                        (i32.const 16) (i32.const 10)))
              (then
                (local.set $token
                  (select (i32.const 1) (i32.const 2)
                    (call $eq (i32.add (local.get $colon) (i32.const 1))
                              (i32.sub (local.get $p) (i32.add (local.get $colon) (i32.const 1)))
                              (i32.const 32) (i32.const 14))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $headers)))
    (if (local.get $deny) (then (return (i32.const 403))))
    (if (i32.eqz (local.get $token)) (then (return (i32.const 401))))
    (if (i32.eq (local.get $token) (i32.const 2)) (then (return (i32.const 403))))
    (i32.const 0))
)
