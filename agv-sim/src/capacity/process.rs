//! The processes of a capacity run: the server and the fleet started (pinned to CPUs with
//! `taskset` when asked), killed when dropped, and their CPU time and resident memory read
//! from `/proc`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::CapacityError;

/// Clock ticks per second of `/proc/PID/stat` (Linux's `USER_HZ`).
const USER_HZ: f64 = 100.0;

/// How many CPUs a `taskset` list names (none: every CPU the machine has).
pub(super) fn cpu_count(list: &Option<String>) -> usize {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpu_list(list, all).len()
}

/// The CPUs a `taskset` list names (`0`, `0,1`, `0-3,6`; none: `0..all`).
pub(super) fn cpu_list(cpus: &Option<String>, all: usize) -> Vec<usize> {
    let Some(list) = cpus else {
        return (0..all).collect();
    };
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(c) = part.trim().parse::<usize>() {
                    out.push(c);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The busy time of a set of CPUs (`/proc/stat`: user, nice, system, irq and softirq, in
/// seconds): everything they did, whichever process or interrupt it was for (not the time the
/// hypervisor gave to others, steal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CpuTimes(pub(super) f64);

impl CpuTimes {
    /// Reads the busy time of `cpus` now (0 where `/proc/stat` cannot be read).
    pub(super) fn read(cpus: &[usize]) -> CpuTimes {
        let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
        CpuTimes(busy_seconds(&stat, cpus))
    }
}

/// The busy seconds of `cpus` in a `/proc/stat` text.
fn busy_seconds(stat: &str, cpus: &[usize]) -> f64 {
    let mut ticks = 0u64;
    for line in stat.lines() {
        let mut f = line.split_whitespace();
        let Some(cpu) = f.next().and_then(|n| n.strip_prefix("cpu")) else {
            continue;
        };
        if !cpu.parse::<usize>().is_ok_and(|c| cpus.contains(&c)) {
            continue;
        }
        let v: Vec<u64> = f.map(|x| x.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal guest guest_nice (guest time is
        // already in user)
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        ticks += at(0) + at(1) + at(2) + at(5) + at(6);
    }
    ticks as f64 / USER_HZ
}

/// `program` as a command, under `taskset -c LIST` when `cpus` names CPUs.
pub(super) fn command(cpus: &Option<String>, program: &Path) -> Command {
    match cpus {
        Some(list) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(list).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// A child process killed when dropped.
pub(super) struct Process {
    child: Child,
    pub(super) log: PathBuf,
}

impl Process {
    pub(super) fn spawn(mut cmd: Command, log: PathBuf) -> Result<Process, CapacityError> {
        let file = fs::File::create(&log).map_err(|e| CapacityError::io(log.display(), e))?;
        let err = file
            .try_clone()
            .map_err(|e| CapacityError::io(log.display(), e))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| CapacityError::io(format!("starting {cmd:?}"), e))?;
        Ok(Process { child, log })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU seconds of a process (its threads included).
pub(super) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the fields after the command name, which is in parentheses and may hold spaces
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / USER_HZ)
}

/// Resident memory of a process, KiB.
pub(super) fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_name_their_cpus() {
        assert_eq!(cpu_list(&None, 3), vec![0, 1, 2]);
        assert_eq!(cpu_list(&Some("2,0-1,1".into()), 8), vec![0, 1, 2]);
        assert_eq!(cpu_list(&Some("0-3,6".into()), 8), vec![0, 1, 2, 3, 6]);
    }

    #[test]
    fn busy_time_counts_the_named_cpus_and_not_their_idle() {
        let stat = "cpu  300 0 30 900 9 0 3 0 0 0\n\
                    cpu0 100 0 10 400 4 1 2 7 0 0\n\
                    cpu1 200 0 20 500 5 0 1 0 0 0\n\
                    intr 1 2 3\n";
        assert_eq!(busy_seconds(stat, &[0]), 1.13);
        assert_eq!(busy_seconds(stat, &[1]), 2.21);
        assert_eq!(busy_seconds(stat, &[0, 1]), 3.34);
        assert_eq!(busy_seconds(stat, &[2]), 0.0);
    }

    #[test]
    fn this_machine_has_busy_time() {
        assert!(CpuTimes::read(&[0]).0 > 0.0);
    }
}
