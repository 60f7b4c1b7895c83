//! One long-lived thread that spawns every control-plane process.
//!
//! Processes are started through `setpriv --pdeathsig SIGKILL`, so the kernel kills them when
//! their parent goes away. Linux ties PDEATHSIG to the *thread* that forked the child, not to the
//! process: a child forked from a test's thread would be killed as soon as that test finished,
//! while the shared control plane is still in use. So all forks happen here, on a thread that
//! lives as long as the process (the channel's sender sits in a static and is never dropped).
//! When the test binary exits, panics out or is killed, this thread dies with it and the kernel
//! sends SIGKILL to every process it started.

use std::process::{Child, Command};
use std::sync::{OnceLock, mpsc};

use crate::error::{Error, Result};

struct Request {
    command: Command,
    reply: mpsc::Sender<std::io::Result<Child>>,
}

static SPAWNER: OnceLock<Result<mpsc::Sender<Request>, String>> = OnceLock::new();

fn sender() -> Result<&'static mpsc::Sender<Request>> {
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Request>();
            std::thread::Builder::new()
                .name("kaptain-testenv-spawner".into())
                .spawn(move || {
                    for mut request in rx {
                        // The requester blocks on the reply; if it has gone away the Child is
                        // dropped here, and its PDEATHSIG still fires when this process exits.
                        let _ = request.reply.send(request.command.spawn());
                    }
                })
                .map(|_| tx)
                .map_err(|e| format!("cannot start the spawner thread: {e}"))
        })
        .as_ref()
        .map_err(|e| Error::Spawner(e.clone()))
}

/// Spawns `command` from the spawner thread and returns its handle.
pub(crate) fn spawn(command: Command) -> Result<Child> {
    let description = format!("{:?}", command);
    let (reply, answer) = mpsc::channel();
    sender()?
        .send(Request { command, reply })
        .map_err(|_| Error::Spawner("the spawner thread is gone".into()))?;
    answer
        .recv()
        .map_err(|_| Error::Spawner("the spawner thread dropped the request".into()))?
        .map_err(|source| Error::Io {
            context: format!("spawning {description}"),
            source,
        })
}
