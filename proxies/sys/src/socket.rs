//! Socket settings shared by every core.
//!
//! Every core listens with the same backlog and sets `TCP_NODELAY` on every
//! accepted connection, so no core wins on socket tuning.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Listen backlog for every core (glommio's own `TcpListener::bind`
/// hard-codes 1024; every core uses that value).
pub const BACKLOG: i32 = 1024;

/// A bound, non-listening `SO_REUSEPORT` socket that holds a port while
/// several threads each bind their own listener to it.
///
/// Needed for port 0: the first bind picks the port, the reservation keeps
/// it, and it never accepts a connection because it never listens.
#[derive(Debug)]
pub struct PortReservation {
    socket: Socket,
    addr: SocketAddr,
}

impl PortReservation {
    /// Binds a placeholder socket at `addr` (port 0 allowed).
    pub fn new(addr: SocketAddr) -> io::Result<PortReservation> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_port(true)?;
        socket.set_reuse_address(true)?;
        socket.bind(&SockAddr::from(addr))?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        Ok(PortReservation { socket, addr })
    }

    /// The concrete address, port resolved.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Releases the port once every listener holds it.
    pub fn release(self) {
        drop(self.socket);
    }
}

/// A plain listener (no `SO_REUSEPORT`) with the shared backlog, for cores
/// that accept on one socket and spread connections themselves.
pub fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// One thread's listener in a `SO_REUSEPORT` group (see
/// [`PortReservation`]), with the shared backlog, blocking: each
/// runtime's adapter sets the mode its driver wants when it takes the
/// socket over. Bound here rather than by each runtime so that every
/// thread-per-core core listens with the same options and keeps a
/// descriptor for [`stop_listening`].
pub fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Makes a listening socket refuse new connections *now*.
///
/// Dropping a listener is not enough on io_uring runtimes: an accept still
/// in flight holds a reference to the socket, which keeps listening (and
/// completing handshakes into its backlog) until that accept completes.
/// `shutdown(SHUT_RD)` on a listening socket stops it at once and fails the
/// pending accept, so "stop accepting" means the same on every core.
pub fn stop_listening(fd: std::os::fd::RawFd) -> io::Result<()> {
    nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Read).map_err(io::Error::from)
}

/// Whether an idle connection is fit to carry another request: the peer
/// has neither closed it nor sent bytes nobody asked for. A non-blocking
/// peek, the same on every runtime: bytes on an idle upstream connection
/// are a stray response that would be handed to the next client (RFC 9112
/// §9.2), and a closed one would fail the request sent on it.
pub fn is_quiet(fd: std::os::fd::RawFd) -> bool {
    use nix::errno::Errno;
    use nix::sys::socket::{MsgFlags, recv};
    let mut byte = [0u8; 1];
    loop {
        match recv(fd, &mut byte, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT) {
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return true,
            // 0: the peer closed; n: unasked-for bytes; an error: broken.
            Ok(_) | Err(_) => return false,
        }
    }
}

/// Shuts both directions of a connection given up on: the peer learns at
/// once, on every runtime. On monoio's io_uring driver a read or write
/// abandoned by a timeout stays queued, holding the socket open, until it
/// completes (this build leaves monoio's `async-cancel` feature off, as
/// before, so no core's I/O path changes); shutting the socket down
/// completes it now.
pub fn abort(fd: std::os::fd::RawFd) {
    let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both);
}

/// Makes closing `socket` reset the connection (RST, linger zero)
/// instead of ending it with a FIN: how a peer that crashed or gave up
/// looks to the other side. Dropping the socket then never blocks.
pub fn reset_on_close<S: std::os::fd::AsFd>(socket: &S) -> io::Result<()> {
    socket2::SockRef::from(socket).set_linger(Some(std::time::Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_lets_reuseport_listeners_share_its_port() {
        let reservation = PortReservation::new("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = reservation.addr();
        assert_ne!(addr.port(), 0);
        let listeners: Vec<_> = (0..2)
            .map(|_| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
                s.set_reuse_port(true).unwrap();
                s.bind(&addr.into()).unwrap();
                s.listen(BACKLOG).unwrap();
                s
            })
            .collect();
        reservation.release();
        // The port is still served after the reservation is gone.
        std::net::TcpStream::connect(addr).unwrap();
        drop(listeners);
    }

    #[test]
    fn an_idle_connection_is_quiet_until_its_peer_writes_or_closes() {
        use std::io::Write as _;
        use std::os::fd::AsRawFd as _;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pair = || {
            let ours = std::net::TcpStream::connect(addr).unwrap();
            let (theirs, _) = listener.accept().unwrap();
            (ours, theirs)
        };
        let settle = || std::thread::sleep(std::time::Duration::from_millis(50));
        let (ours, _theirs) = pair();
        assert!(is_quiet(ours.as_raw_fd()));
        let (ours, mut theirs) = pair();
        theirs.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        settle();
        assert!(!is_quiet(ours.as_raw_fd()), "stray bytes");
        let (ours, theirs) = pair();
        drop(theirs);
        settle();
        assert!(!is_quiet(ours.as_raw_fd()), "closed by the peer");
        // Peeking consumed nothing.
        let (mut ours, mut theirs) = pair();
        theirs.write_all(b"x").unwrap();
        settle();
        assert!(!is_quiet(ours.as_raw_fd()));
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut ours, &mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }
}
