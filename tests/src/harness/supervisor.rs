//! Spawns every child process from one thread that lives as long as the test process.
//!
//! Children get `PR_SET_PDEATHSIG(SIGKILL)` so that postgres, redis and host-runner die with
//! the test process (statics are never dropped). The signal fires when the *thread* that
//! forked the child exits, and libtest-mimic runs tests on threads that end, hence the
//! dedicated thread: callers send it a `Command` and get the `Child` back.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::thread;

type Reply = Sender<io::Result<Child>>;

static REQUESTS: OnceLock<Mutex<Sender<(Command, Reply)>>> = OnceLock::new();
/// What [`kill_all`] ends: a process, or (negative) a process group.
static LONG_LIVED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Spawns `cmd` from the supervisor thread with the parent-death signal set.
pub fn spawn(cmd: Command) -> io::Result<Child> {
    let requests = REQUESTS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Command, Reply)>();
        thread::Builder::new()
            .name("spincrud-supervisor".into())
            .spawn(move || {
                // Never returns while the process lives: `tx` is kept in a static.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(spawn_here(&mut cmd));
                }
                // Keep the thread alive even if the channel ever closed, so that children
                // spawned earlier are not killed.
                loop {
                    thread::park();
                }
            })
            .expect("cannot start the supervisor thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .expect("supervisor thread is gone");
    reply_rx
        .recv()
        .expect("supervisor thread dropped the request")
}

/// Like [`spawn`], and remembers the pid so that [`kill_all`] ends it after the run.
pub fn spawn_long_lived(cmd: Command) -> io::Result<Child> {
    let child = spawn(cmd)?;
    LONG_LIVED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(child.id() as i32);
    Ok(child)
}

/// Like [`spawn_long_lived`] for a program that starts children of its own (`spin up` runs
/// `spin trigger http`, which outlives it): the child leads a process group of its own, and
/// [`kill_all`] ends the whole group.
pub fn spawn_long_lived_group(mut cmd: Command) -> io::Result<Child> {
    cmd.process_group(0);
    let child = spawn(cmd)?;
    LONG_LIVED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(-(child.id() as i32));
    Ok(child)
}

fn spawn_here(cmd: &mut Command) -> io::Result<Child> {
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// SIGKILLs the long-lived children (the servers and stores started by this process) and the
/// process groups of those that lead one.
pub fn kill_all() {
    let pids = std::mem::take(&mut *LONG_LIVED.lock().unwrap_or_else(|p| p.into_inner()));
    for pid in pids {
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}
