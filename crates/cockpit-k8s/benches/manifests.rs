//! Manifest audit throughput: 1,000 documents (Deployments, Services, HPAs,
//! PDBs, ServiceAccounts) audited end to end — split, parse, type, every
//! check, placement — against a floor measured on the same bytes in the
//! same run: serde-saphyr parsing every document into `serde_json::Value`
//! and nothing else (the parser this crate uses; no checks).
//!
//! `cargo xtask bench manifests` (or `cargo bench -p cockpit-k8s --bench manifests`).

use std::hint::black_box;

use cockpit_k8s::{K8sConfig, audit_manifest_text};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const DOCS: usize = 1000;

/// `DOCS` documents, 5 kinds in turn, 200 apps.
fn corpus() -> String {
    let mut s = String::new();
    for i in 0..DOCS / 5 {
        let app = format!("agent-{i}");
        s.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  namespace: agents\n  labels: {{app.kubernetes.io/component: agent}}\nspec:\n  replicas: {r}\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      serviceAccountName: {app}\n      automountServiceAccountToken: false\n      topologySpreadConstraints:\n      - {{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}}\n      containers:\n      - name: agent\n        image: us-docker.pkg.dev/p/agents/{app}:1.{i}.0\n        env:\n        - {{name: REDIS_URL, valueFrom: {{secretKeyRef: {{name: redis, key: url}}}}}}\n        resources:\n          requests: {{cpu: '2', memory: 8Gi}}\n          limits: {{memory: 8Gi}}\n        startupProbe: {{httpGet: {{path: /healthz, port: 8080}}, failureThreshold: 60}}\n        readinessProbe: {{httpGet: {{path: /ready, port: 8080}}}}\n        livenessProbe: {{httpGet: {{path: /healthz, port: 8080}}}}\n",
            r = i % 4
        ));
        s.push_str(&format!("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\n  namespace: agents\nspec:\n  type: LoadBalancer\n  selector: {{app: {app}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"));
        s.push_str(&format!("---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {app}\n  namespace: agents\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {app}}}\n  minReplicas: 2\n  maxReplicas: 10\n"));
        s.push_str(&format!("---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {app}\n  namespace: agents\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels: {{app: {app}}}\n"));
        s.push_str(&format!("---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {app}\n  namespace: agents\n  annotations: {{iam.gke.io/gcp-service-account: {app}@p.iam.gserviceaccount.com}}\n"));
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = corpus();
    let cfg = K8sConfig::default();
    let audit = audit_manifest_text("bench.yaml", &text, &cfg);
    assert_eq!(audit.documents, DOCS);
    assert!(
        audit.outcome.findings.len() > DOCS,
        "{} findings",
        audit.outcome.findings.len()
    );
    let floor: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    assert_eq!(floor.len(), DOCS);

    let mut g = c.benchmark_group("manifests_1000_docs");
    g.throughput(Throughput::Elements(DOCS as u64));
    g.sample_size(20);
    g.bench_function("audit_manifests (split, parse, type, all checks)", |b| {
        b.iter(|| black_box(audit_manifest_text("bench.yaml", black_box(&text), &cfg)))
    });
    g.bench_function("peer floor: serde-saphyr parse only", |b| {
        b.iter(|| {
            let v: Vec<serde_json::Value> = serde_saphyr::from_multiple(black_box(&text)).unwrap();
            black_box(v)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
