//! Child processes the tool starts (credential plugins, MCP servers) run in
//! their own process group, so that a timeout, an error or Ctrl-C can stop
//! the whole tree they may have forked, not only the direct child.

/// Send SIGKILL to the process group led by `leader` (a child spawned with
/// `process_group(0)`, whose id is the group id). `None`, an id that does
/// not fit a pid, or a group that is already gone are all fine: nothing to
/// kill. A no-op off Unix.
pub fn kill_process_group(leader: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = leader
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = leader;
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn kills_the_whole_group_and_tolerates_a_gone_one() {
        // A shell that forks a grandchild; both sleep far longer than the test.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 300 & sleep 300"])
            .process_group(0)
            .spawn()
            .expect("sh starts");
        super::kill_process_group(Some(child.id()));
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "killed, not exited: {status:?}");
        // The group is gone now: a second kill and a None are no-ops.
        super::kill_process_group(Some(child.id()));
        super::kill_process_group(None);
    }
}
