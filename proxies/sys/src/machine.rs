//! Facts about the machine that results record.

/// The CPU's model name from `/proc/cpuinfo` (the first CPU), or
/// `unknown`. The one reader of that file: results files (`pb-runner`)
/// and instruction-count files (`pb-bench`) both record this string, and
/// counts only compare when it matches. Here rather than in the runner so
/// that the instruction counter does not link the runner's dependencies
/// (whose tokio features would change the counts it measures).
pub fn cpu_model() -> String {
    use procfs::Current as _;
    procfs::CpuInfo::current()
        .ok()
        .and_then(|info| info.model_name(0).map(|m| m.trim().to_owned()))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
