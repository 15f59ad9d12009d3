//! Kubeconfig credential plugins (`users[].user.exec`), run here with bounds
//! rather than by kube.
//!
//! kube runs an exec plugin with a blocking `std::process::Command::output()`
//! (no timeout, on the async runtime's thread, twice when building a client),
//! so a plugin that hangs would hang the audit and ignore Ctrl-C. This
//! module runs it once, before kube sees the kubeconfig: in its own process
//! group, stdin closed (never interactive: an audit must not wait for a
//! prompt), at most [`MAX_PLUGIN_OUTPUT`] bytes of stdout read, under the
//! request timeout. On timeout, on error, and when the caller drops the
//! future (cancellation), the whole process group is killed, so no
//! grandchild is left behind. The credential it prints (a token, or a client
//! certificate and key) replaces the `exec` entry in kube's configuration.
//!
//! The legacy `auth-provider` with a `cmd-path` (gcp, removed from kubectl
//! in 1.26) would also run a command without bound inside kube: it is
//! refused, with the replacement named.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use kube::config::{AuthInfo, ExecConfig};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use crate::K8sError;

/// Most bytes of a plugin's standard output read (1 MiB).
pub const MAX_PLUGIN_OUTPUT: u64 = 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
}

/// Kills the plugin's process group when dropped: on timeout, on error and
/// on cancellation alike.
#[derive(Debug)]
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        cockpit_core::process::kill_process_group(self.0);
    }
}

fn plugin_error(command: &str, message: impl std::fmt::Display) -> K8sError {
    K8sError::Kubeconfig(format!("credential plugin `{command}`: {message}"))
}

/// The `KUBERNETES_EXEC_INFO` the plugin protocol passes (never interactive).
fn exec_info(exec: &ExecConfig) -> String {
    let mut spec = serde_json::json!({ "interactive": false });
    if exec.provide_cluster_info
        && let Some(c) = &exec.cluster
        && let Ok(v) = serde_json::to_value(c)
    {
        spec["cluster"] = v;
    }
    serde_json::json!({
        "apiVersion": exec.api_version.clone().unwrap_or_else(|| "client.authentication.k8s.io/v1".into()),
        "kind": "ExecCredential",
        "spec": spec,
    })
    .to_string()
}

/// Read `r` to its end, keeping at most `cap` bytes (the rest is read and
/// dropped, so a chatty plugin is not blocked on a full pipe).
async fn read_capped(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    cap: u64,
) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    (&mut *r).take(cap).read_to_end(&mut kept).await?;
    tokio::io::copy(r, &mut tokio::io::sink()).await?;
    Ok(kept)
}

/// Run the plugin and return its credential's status.
async fn run(exec: &ExecConfig, timeout: Duration) -> Result<ExecStatus, K8sError> {
    let command = exec
        .command
        .as_deref()
        .ok_or_else(|| K8sError::Kubeconfig("credential plugin: no `command`".into()))?;
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(exec.args.iter().flatten());
    for pair in exec.env.iter().flatten() {
        let pair: &HashMap<String, String> = pair;
        if let (Some(name), Some(value)) = (pair.get("name"), pair.get("value")) {
            cmd.env(name, value);
        }
    }
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    cmd.env("KUBERNETES_EXEC_INFO", exec_info(exec))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| plugin_error(command, format!("cannot start: {e}")))?;
    let _guard = GroupGuard(child.id());
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let finished = async {
        let (out, err) = tokio::join!(
            read_capped(&mut stdout, MAX_PLUGIN_OUTPUT + 1),
            read_capped(&mut stderr, 64 * 1024)
        );
        let (out, err) = (out?, err?);
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, finished).await {
        Err(_) => {
            // Kill the group now and reap the plugin, rather than leave it
            // to the guard and the runtime.
            drop(_guard);
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            return Err(plugin_error(
                command,
                format!(
                    "no credential after {:.1} s (request_timeout_s): stopped",
                    timeout.as_secs_f64()
                ),
            ));
        }
        Ok(r) => r.map_err(|e| plugin_error(command, e))?,
    };
    if !status.success() {
        let first = String::from_utf8_lossy(&err);
        let first: String = first
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        return Err(plugin_error(command, format!("{status}: {first}")));
    }
    if out.len() as u64 > MAX_PLUGIN_OUTPUT {
        return Err(plugin_error(
            command,
            format!("more than {MAX_PLUGIN_OUTPUT} bytes of output"),
        ));
    }
    let cred: ExecCredential = serde_saphyr::from_slice(&out)
        .map_err(|_| plugin_error(command, "its output is not an ExecCredential"))?;
    cred.status
        .ok_or_else(|| plugin_error(command, "its ExecCredential has no status"))
}

/// Replace the `exec` plugin of `auth` by the credential it prints, run
/// with the bounds of this module; refuse an `auth-provider` that would
/// run a command inside kube.
pub(crate) async fn resolve(auth: &mut AuthInfo, timeout: Duration) -> Result<(), K8sError> {
    if let Some(p) = &auth.auth_provider
        && p.config.contains_key("cmd-path")
    {
        return Err(K8sError::Kubeconfig(format!(
            "auth-provider `{}` with cmd-path is not supported (it runs a command without a time bound); use an exec credential plugin such as gke-gcloud-auth-plugin",
            p.name
        )));
    }
    let Some(exec) = auth.exec.take() else {
        return Ok(());
    };
    let status = run(&exec, timeout).await?;
    match (
        status.token,
        status.client_certificate_data,
        status.client_key_data,
    ) {
        (_, Some(cert), Some(key)) => {
            auth.client_certificate_data = Some(cert);
            auth.client_key_data = Some(key.into());
        }
        (Some(token), _, _) => auth.token = Some(token.into()),
        _ => {
            return Err(plugin_error(
                exec.command.as_deref().unwrap_or(""),
                "its ExecCredential holds neither a token nor a client certificate and key",
            ));
        }
    }
    Ok(())
}
