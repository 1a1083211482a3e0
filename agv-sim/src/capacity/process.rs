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
    let Some(list) = list else {
        return std::thread::available_parallelism().map_or(1, |n| n.get());
    };
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 1,
            },
            None => 1,
        })
        .sum()
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
