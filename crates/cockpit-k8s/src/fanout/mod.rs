//! Fanning a run out over a Kubernetes Indexed Job: the Job rendered from
//! typed k8s-openapi objects ([`render_job`]), and the coordinator
//! ([`run_job`]) that creates it, waits for its pods, hands them a common
//! start, reads each worker's output from its pod log and deletes the Job.
//!
//! The worker is any command: the Job runs `program args…` in `K` pods, the
//! shard index from `JOB_COMPLETION_INDEX` (`$(JOB_COMPLETION_INDEX)` in the
//! arguments is expanded by the kubelet). The coordinator returns each
//! worker's raw output (bounded); what it means (a load shard result, a
//! simulation shard) and how outputs merge is the caller's.
//!
//! **The start handshake.** A worker cannot know when every other pod is
//! scheduled, and its command line is fixed when the Job is created. So each
//! worker listens on [`START_PORT`] (address in [`START_ENV`]) and waits.
//! Once every pod is Running and Ready (its readiness probe, `GET /clock`
//! on that port, answers), the coordinator reaches each one through the
//! API server's pod proxy (`pods/proxy`: no Service, no route from the
//! coordinator's machine to the pods needed): `GET /clock` a few times
//! (an NTP-style exchange: the pod's clock offset from the coordinator's,
//! within half the round trip), then `POST /start?at=UNIX_NS` with the same
//! instant for every pod, a lead ahead of now.
//!
//! ```
//! use cockpit_k8s::fanout::{WorkerJob, render_job, job_yaml};
//!
//! let job = render_job(&WorkerJob {
//!     args: vec!["load".into(), "shard".into(), "--shard".into(), "$(JOB_COMPLETION_INDEX)/4".into()],
//!     ..WorkerJob::new("loadgen", "registry.example/agentops-cockpit@sha256:0123", 4)
//! });
//! let spec = job.spec.as_ref().unwrap();
//! assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
//! assert_eq!((spec.parallelism, spec.completions, spec.backoff_limit), (Some(4), Some(4), Some(0)));
//! assert!(job_yaml(&job).unwrap().contains("JOB_COMPLETION_INDEX"));
//! ```
//!
//! What it never does: give the workers a service-account token (they need
//! no API access), run them as root, or leave the Job behind unless asked
//! (`keep`).

mod run;

use std::collections::BTreeMap;

/// The Job type [`render_job`] returns and [`run_job`] takes.
pub use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EnvVar, HTTPGetAction, PodAffinityTerm,
    PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SeccompProfile, SecurityContext, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::K8sError;

pub use run::{JobRun, PodClock, RunSettings, WorkerOutcome, run_job};

/// The port each worker waits for its start on.
pub const START_PORT: u16 = 7070;
/// The environment variable holding the address a worker waits on
/// (`0.0.0.0:7070`); `agentops-cockpit load shard` reads it.
pub const START_ENV: &str = "AGENTOPS_AWAIT_START";
/// Set by the Job controller in every pod: its completion index (the shard).
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The annotation (and label) the Job controller gives each pod its index in.
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The label every pod of a Job carries, its value the Job's name.
pub const JOB_NAME_LABEL: &str = "job-name";
/// How long a finished Job stays before Kubernetes removes it (with `keep`).
pub const TTL_AFTER_FINISHED_S: i32 = 600;
/// The non-root user the workers run as (distroless `nonroot`).
pub const RUN_AS_USER: i64 = 65532;

/// What the Job runs and where.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerJob {
    /// The Job's name (and the `app.kubernetes.io/instance` label).
    pub name: String,
    /// The `app.kubernetes.io/component` label: what the workers are
    /// (`load-worker`, `simulation-worker`).
    pub component: String,
    pub namespace: String,
    /// The container image holding `program`, best pinned by digest.
    pub image: String,
    /// The program in the image (`agentops-cockpit`).
    pub program: String,
    /// Its arguments; `$(JOB_COMPLETION_INDEX)` is each pod's shard index.
    pub args: Vec<String>,
    /// `K`: parallelism and completions.
    pub workers: u16,
    /// CPU request (and limit), a quantity.
    pub cpu: String,
    /// Memory request and limit, a quantity.
    pub memory: String,
    /// The Job's `activeDeadlineSeconds`: Kubernetes stops the workers
    /// after this even when the coordinator is gone.
    pub active_deadline_s: Option<i64>,
}

impl WorkerJob {
    /// `workers` pods of `image` in `namespace` running `agentops-cockpit`
    /// with no arguments yet, one CPU and 512 MiB each, named and labelled
    /// as load workers.
    pub fn new(namespace: &str, image: &str, workers: u16) -> WorkerJob {
        WorkerJob {
            name: "agentops-cockpit-load".into(),
            component: "load-worker".into(),
            namespace: namespace.into(),
            image: image.into(),
            program: "agentops-cockpit".into(),
            args: Vec::new(),
            workers,
            cpu: "1".into(),
            memory: "512Mi".into(),
            active_deadline_s: None,
        }
    }
}

fn labels(w: &WorkerJob) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "agentops-cockpit".into()),
        ("app.kubernetes.io/component".into(), w.component.clone()),
        ("app.kubernetes.io/instance".into(), w.name.clone()),
    ])
}

/// The Indexed Job running `w`: `completionMode: Indexed`, `parallelism =
/// completions = K`, `backoffLimit: 0` (a failed worker is a hole, never
/// retried into another schedule), `restartPolicy: Never`, preferred pod
/// anti-affinity on the node so workers spread, requests = limits, a
/// non-root read-only container without a service-account token, and
/// `ttlSecondsAfterFinished`.
pub fn render_job(w: &WorkerJob) -> Job {
    let k = i32::from(w.workers);
    Job {
        metadata: ObjectMeta {
            name: Some(w.name.clone()),
            namespace: Some(w.namespace.clone()),
            labels: Some(labels(w)),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(k),
            parallelism: Some(k),
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED_S),
            active_deadline_seconds: w.active_deadline_s,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(w)),
                    ..Default::default()
                }),
                spec: Some(pod_spec(w)),
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn pod_spec(w: &WorkerJob) -> PodSpec {
    let quantities = BTreeMap::from([
        ("cpu".to_string(), Quantity(w.cpu.clone())),
        ("memory".to_string(), Quantity(w.memory.clone())),
    ]);
    PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS_USER),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        affinity: Some(spread(w)),
        containers: vec![Container {
            name: "worker".into(),
            image: Some(w.image.clone()),
            command: Some(vec![w.program.clone()]),
            args: Some(w.args.clone()),
            env: Some(vec![EnvVar {
                name: START_ENV.into(),
                value: Some(format!("0.0.0.0:{START_PORT}")),
                ..Default::default()
            }]),
            ports: Some(vec![ContainerPort {
                name: Some("start".into()),
                container_port: i32::from(START_PORT),
                ..Default::default()
            }]),
            // Ready = waiting for its start: the coordinator hands the
            // start only to pods that answer.
            readiness_probe: Some(Probe {
                http_get: Some(HTTPGetAction {
                    path: Some("/clock".into()),
                    port: IntOrString::Int(i32::from(START_PORT)),
                    ..Default::default()
                }),
                period_seconds: Some(1),
                ..Default::default()
            }),
            resources: Some(ResourceRequirements {
                requests: Some(quantities.clone()),
                limits: Some(quantities),
                ..Default::default()
            }),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Preferred (not required: a small cluster still runs every worker)
/// anti-affinity between the Job's pods on `kubernetes.io/hostname`.
fn spread(w: &WorkerJob) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        topology_key: "kubernetes.io/hostname".into(),
                        label_selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(
                                "app.kubernetes.io/instance".to_string(),
                                w.name.clone(),
                            )])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Job as one YAML document (k8s-openapi writes `apiVersion` and `kind`).
pub fn job_yaml(job: &Job) -> Result<String, K8sError> {
    let doc = serde_saphyr::to_string(job).map_err(|e| K8sError::Render(e.to_string()))?;
    Ok(format!("---\n{doc}"))
}
