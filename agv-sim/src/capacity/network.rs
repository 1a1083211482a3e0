//! How the fleet reaches the server in a capacity run: over loopback, or over a veth pair into
//! a network namespace of the server's own, with each side's receive path steered to its own
//! CPUs.
//!
//! On loopback the sender's system call also runs the receiver's side of TCP (`tcp_v4_rcv`,
//! queueing the segment, waking the reader): the fleet's CPU pays for the server's receive
//! path, so the server's figures leave it out and the fleet's core saturates first
//! (docs/performance.md, "The fleet's own cost"). Over veth with Receive Packet Steering
//! (RPS) the kernel hands every segment to a CPU of the receiving side, as a network card's
//! interrupt would on a real server: the server's CPUs do its receive path, the fleet's do
//! theirs, and what the CPUs the server is pinned to did in the window
//! (`process::CpuTimes`) is the whole cost of its frames on that machine.

use std::fs;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::CapacityError;
use super::process::cpu_list;

/// What a veth link is made of.
#[derive(Debug)]
struct Names {
    /// The network namespace the server runs in (created, and deleted when done).
    namespace: &'static str,
    /// The pair's ends: the fleet's (in this namespace) and the server's.
    fleet_end: &'static str,
    server_end: &'static str,
    /// The server's address, and the fleet's (a /24 of their own).
    server_ip: Ipv4Addr,
    fleet_ip: Ipv4Addr,
}

/// The link of a capacity run.
const RUN: Names = Names {
    namespace: "rcs-capacity",
    fleet_end: "rcs-cap-fleet",
    server_end: "rcs-cap-server",
    server_ip: Ipv4Addr::new(10, 77, 0, 1),
    fleet_ip: Ipv4Addr::new(10, 77, 0, 2),
};

/// Where the fleet reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Network {
    /// 127.0.0.1: the sender's CPU runs the receiver's side of TCP.
    #[default]
    Loopback,
    /// A veth pair into a network namespace of the server's own (`ip netns`, Linux, root),
    /// each side's receive path steered to its own CPUs (RPS).
    Veth,
}

impl Network {
    /// Its name in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Network::Loopback => "loopback",
            Network::Veth => "veth",
        }
    }
}

/// The link of a run: the server's address, and the namespace it runs in (deleted on drop).
#[derive(Debug)]
pub(super) struct Link {
    /// The address the server listens on and the fleet connects to.
    pub(super) server_ip: Ipv4Addr,
    names: Option<&'static Names>,
}

impl Link {
    /// Sets the link up: nothing for loopback; for veth the namespace, the pair, the addresses
    /// and the steering of each end's receive path to `server_cpus` and `fleet_cpus` (every
    /// CPU where none are named).
    pub(super) fn open(
        network: Network,
        server_cpus: &Option<String>,
        fleet_cpus: &Option<String>,
    ) -> Result<Link, CapacityError> {
        Self::open_as(&RUN, network, server_cpus, fleet_cpus)
    }

    /// [`open`](Self::open) with the names and addresses of `names`.
    fn open_as(
        names: &'static Names,
        network: Network,
        server_cpus: &Option<String>,
        fleet_cpus: &Option<String>,
    ) -> Result<Link, CapacityError> {
        if network == Network::Loopback {
            return Ok(Link {
                server_ip: Ipv4Addr::LOCALHOST,
                names: None,
            });
        }
        // what an interrupted run left behind goes first
        remove(names);
        let link = Link {
            server_ip: names.server_ip,
            names: Some(names),
        };
        let Names {
            namespace,
            fleet_end,
            server_end,
            ..
        } = *names;
        let fleet_addr = format!("{}/24", names.fleet_ip);
        let server_addr = format!("{}/24", names.server_ip);
        ip(&["netns", "add", namespace])?;
        ip(&[
            "link", "add", fleet_end, "type", "veth", "peer", "name", server_end,
        ])?;
        ip(&["link", "set", server_end, "netns", namespace])?;
        ip(&["addr", "add", &fleet_addr, "dev", fleet_end])?;
        ip(&["link", "set", fleet_end, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", namespace, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&["addr", "add", &server_addr, "dev", server_end])?;
        inside(&["link", "set", server_end, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        // the server's end receives what the fleet sends: its CPUs do that receive path
        let steer = |dev: &str, cpus: &Option<String>, ns: bool| {
            let file = format!("/sys/class/net/{dev}/queues/rx-0/rps_cpus");
            let mask = rps_mask(cpus);
            let ok = if ns {
                // /sys shows the namespace's devices only from inside it
                let script = format!("echo {mask} > {file}");
                quiet(&["netns", "exec", namespace, "sh", "-c", &script])
            } else {
                fs::write(&file, &mask).is_ok()
            };
            if ok {
                Ok(())
            } else {
                Err(CapacityError::Io {
                    what: format!("steering {dev}'s receive path to CPUs {mask} ({file})"),
                    source: std::io::Error::other("could not write the RPS mask"),
                })
            }
        };
        steer(server_end, server_cpus, true)?;
        steer(fleet_end, fleet_cpus, false)?;
        Ok(link)
    }

    /// `cmd`, run in the server's namespace when there is one.
    pub(super) fn server_command(&self, cmd: Command) -> Command {
        let Some(names) = self.names else {
            return cmd;
        };
        let mut wrapped = Command::new("ip");
        wrapped
            .args(["netns", "exec", names.namespace])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        wrapped
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(names) = self.names {
            remove(names);
        }
    }
}

/// Deletes the pair (both ends at once, now: a namespace's own devices go only some time
/// after the namespace) and the namespace, where they exist.
fn remove(names: &Names) {
    let _ = quiet(&["link", "del", names.fleet_end]);
    let _ = quiet(&["netns", "del", names.namespace]);
}

/// Runs `ip ARGS`; an error names the command and what it printed.
fn ip(args: &[&str]) -> Result<(), CapacityError> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| CapacityError::io("running ip (iproute2)", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(CapacityError::Io {
            what: format!("ip {} (a veth run needs root and iproute2)", args.join(" ")),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        })
    }
}

/// Runs `ip ARGS` and says only whether it worked.
fn quiet(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The CPUs of a `taskset` list as the hexadecimal mask `rps_cpus` takes (every CPU the
/// machine has when none are named).
pub(super) fn rps_mask(cpus: &Option<String>) -> String {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let list = cpu_list(cpus, all);
    // groups of 32 CPUs, highest first, comma-separated (the kernel's bitmap format)
    let words = list.iter().max().map_or(1, |&m| m / 32 + 1);
    let mut bits = vec![0u32; words];
    for cpu in list {
        bits[cpu / 32] |= 1 << (cpu % 32);
    }
    bits.iter()
        .rev()
        .map(|w| format!("{w:x}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this machine can make the veth link (root, iproute2 that may add a namespace,
    /// python3 for the listener).
    fn can_make_links() -> bool {
        let root = fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
        });
        let has = |program: &str| {
            Command::new(program)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        };
        let namespaces = || {
            let probe = "rcs-capacity-probe";
            let made = quiet(&["netns", "add", probe]);
            quiet(&["netns", "del", probe]);
            made
        };
        root && has("ip") && has("python3") && namespaces()
    }

    /// The test's own link, beside a capacity run's.
    const TEST: Names = Names {
        namespace: "rcs-capacity-unit",
        fleet_end: "rcs-capu-fleet",
        server_end: "rcs-capu-server",
        server_ip: Ipv4Addr::new(10, 77, 1, 1),
        fleet_ip: Ipv4Addr::new(10, 77, 1, 2),
    };

    #[test]
    fn a_veth_link_reaches_the_servers_namespace_steers_and_goes_away() {
        use std::io::Read;
        use std::time::{Duration, Instant};
        if !can_make_links() {
            eprintln!(
                "skipped: a veth link needs root, iproute2 allowed to add a network namespace, \
                 and python3"
            );
            return;
        }
        let link = Link::open_as(&TEST, Network::Veth, &Some("0".into()), &None).expect("the link");
        let Names {
            namespace,
            fleet_end,
            server_end,
            server_ip,
            fleet_ip,
        } = TEST;
        assert_eq!(link.server_ip, server_ip);
        // the server's end steers what it receives to CPU 0; the fleet's to every CPU
        let mask = |ns: bool, dev: &str| {
            let file = format!("/sys/class/net/{dev}/queues/rx-0/rps_cpus");
            let text = if ns {
                let out = Command::new("ip")
                    .args(["netns", "exec", namespace, "cat", &file])
                    .output()
                    .expect("cat in the namespace");
                String::from_utf8_lossy(&out.stdout).into_owned()
            } else {
                fs::read_to_string(&file).expect("the fleet's end")
            };
            u64::from_str_radix(&text.trim().replace(',', ""), 16).expect("a mask")
        };
        assert_eq!(mask(true, server_end), 1);
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(mask(false, fleet_end), (1u64 << all.min(63)) - 1);
        // a listener started through server_command is reached over the pair
        let port = 7_000 + (std::process::id() % 1_000) as u16;
        let script = format!(
            "import socket\ns=socket.socket()\ns.bind(('{server_ip}',{port}))\ns.listen()\nc,a=s.accept()\nc.sendall(a[0].encode())\nc.close()"
        );
        let mut python = Command::new("python3");
        python.args(["-c", &script]);
        let mut listener = link.server_command(python).spawn().expect("the listener");
        let started = Instant::now();
        let peer = loop {
            match std::net::TcpStream::connect((server_ip, port)) {
                Ok(mut s) => {
                    let mut peer = String::new();
                    s.read_to_string(&mut peer).expect("the listener's answer");
                    break peer;
                }
                Err(e) if started.elapsed() > Duration::from_secs(10) => {
                    panic!("no listener at {server_ip}:{port}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        // the connection came from the fleet's end of the pair, not from loopback
        assert_eq!(peer, fleet_ip.to_string());
        let _ = listener.wait();
        drop(link);
        assert!(!quiet(&["netns", "exec", namespace, "true"]));
        assert!(!std::path::Path::new(&format!("/sys/class/net/{fleet_end}")).exists());
    }

    #[test]
    fn cpu_lists_become_rps_masks() {
        assert_eq!(rps_mask(&Some("0".into())), "1");
        assert_eq!(rps_mask(&Some("1".into())), "2");
        assert_eq!(rps_mask(&Some("0-3,6".into())), "4f");
        assert_eq!(rps_mask(&Some("33".into())), "2,0");
    }
}
