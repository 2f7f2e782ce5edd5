//! CPU time and memory of a process (the server, or the tool itself) read from `/proc`.

use std::path::Path;

use anyhow::Context;

/// CPU time and resident memory of a process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU time, seconds.
    pub cpu_s: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Peak resident set size so far (`VmHWM`), bytes.
    pub rss_peak_bytes: u64,
    /// Resident anonymous memory (`RssAnon`: the heap, stacks), bytes: the resident set
    /// without the pages of the program's own files.
    pub rss_anon_bytes: u64,
}

/// Samples process `pid` (`None`: this process).
pub fn sample(pid: Option<u32>) -> anyhow::Result<ProcSample> {
    let dir = proc_dir(pid);
    let stat = std::fs::read_to_string(format!("{dir}/stat"))
        .with_context(|| format!("cannot read {dir}/stat (is the process running?)"))?;
    let status =
        std::fs::read_to_string(format!("{dir}/status")).with_context(|| format!("cannot read {dir}/status"))?;
    Ok(ProcSample {
        cpu_s: stat_cpu_seconds(&stat).context("unexpected format of /proc/PID/stat")?,
        rss_bytes: status_kib(&status, "VmRSS:").unwrap_or(0) * 1024,
        rss_peak_bytes: status_kib(&status, "VmHWM:").unwrap_or(0) * 1024,
        rss_anon_bytes: status_kib(&status, "RssAnon:").unwrap_or(0) * 1024,
    })
}

/// CPU seconds of each thread of this process whose name starts with `prefix`.
pub fn thread_cpu(prefix: &str) -> Vec<(u32, f64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut threads = Vec::new();
    for task in tasks.flatten() {
        let path = task.path();
        let Some(tid) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        if stat_comm(&stat).is_some_and(|comm| comm.starts_with(prefix)) {
            if let Some(cpu) = stat_cpu_seconds(&stat) {
                threads.push((tid, cpu));
            }
        }
    }
    threads
}

/// Busy and total CPU time of the whole machine, in clock ticks, from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineSample {
    pub busy: u64,
    pub total: u64,
}

/// Samples the machine's CPU counters.
pub fn machine() -> Option<MachineSample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine(stat.lines().next()?)
}

/// Fraction of the machine's CPUs busy between two samples (0 to 1).
pub fn machine_busy(before: MachineSample, after: MachineSample) -> Option<f64> {
    let total = after.total.checked_sub(before.total)?;
    let busy = after.busy.checked_sub(before.busy)?;
    (total > 0).then(|| busy as f64 / total as f64)
}

/// Waits until the machine was at least `idle` (0 to 1) idle over `window`, checking
/// again for at most `patience`; returns the idle fraction last seen.
pub async fn wait_idle(idle: f64, window: std::time::Duration, patience: std::time::Duration) -> Option<f64> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let before = machine()?;
        tokio::time::sleep(window).await;
        let seen = 1.0 - machine_busy(before, machine()?)?;
        if seen >= idle || tokio::time::Instant::now() >= deadline {
            return Some(seen);
        }
    }
}

fn parse_machine(line: &str) -> Option<MachineSample> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let values: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
    if values.len() < 5 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values[4];
    Some(MachineSample { busy: total - idle, total })
}

/// The soft limit on open files of process `pid`, from `/proc/PID/limits`.
pub fn open_files_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Whether process `pid` exists.
pub fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn proc_dir(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".into(),
    }
}

/// The command name of a `stat` line (between the first `(` and the last `)`).
fn stat_comm(stat: &str) -> Option<&str> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    stat.get(open + 1..close)
}

/// User plus system time of a `stat` line, in seconds.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / rustix::param::clock_ticks_per_second() as f64)
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let line = "123 (tokio (w) 1) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(stat_comm(line), Some("tokio (w) 1"));
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(stat_cpu_seconds(line), Some(300.0 / ticks));
    }

    #[test]
    fn parses_the_machine_line() {
        let sample = parse_machine("cpu  100 0 50 800 50 0 0 0 0 0").expect("parses");
        assert_eq!(sample, MachineSample { busy: 150, total: 1000 });
        let later = MachineSample { busy: 250, total: 1200 };
        assert_eq!(machine_busy(sample, later), Some(0.5));
        assert!(machine().is_some());
    }

    #[test]
    fn samples_this_process() {
        let me = sample(None).expect("own /proc entry");
        assert!(me.rss_bytes > 0 && me.rss_peak_bytes >= me.rss_bytes);
        assert!(sample(Some(std::process::id())).is_ok());
        assert!(open_files_limit(std::process::id()).is_some());
        assert!(exists(std::process::id()));
    }
}
