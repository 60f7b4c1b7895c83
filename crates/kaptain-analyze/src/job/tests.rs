use kaptain_model::Severity;

use crate::testutil::{index, run};

fn job(name: &str, created: &str, cond: &str, owner: Option<&str>) -> String {
    let owner = owner
        .map(|o| {
            format!(
                "\n  ownerReferences: [{{apiVersion: batch/v1, kind: CronJob, name: {o}, uid: c1, controller: true}}]"
            )
        })
        .unwrap_or_default();
    let (status, extra) = match cond {
        "Failed" => (
            "Failed",
            "reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit",
        ),
        "Complete" => ("Complete", "reason: Completed"),
        _ => ("", ""),
    };
    let conditions = if status.is_empty() {
        "{active: 1}".to_string()
    } else {
        format!("{{failed: 6, conditions: [{{type: {status}, status: \"True\", {extra}}}]}}")
    };
    format!(
        r#"
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: ops
  creationTimestamp: "{created}"{owner}
spec: {{backoffLimit: 6, template: {{spec: {{restartPolicy: Never, containers: [{{name: b, image: b}}]}}}}}}
status: {conditions}
"#
    )
}

fn cronjob(schedule: &str, last: Option<&str>, extra: &str) -> String {
    let status = last
        .map(|t| format!("{{lastScheduleTime: \"{t}\"}}"))
        .unwrap_or_else(|| "{}".into());
    format!(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {{name: backup, namespace: ops, uid: c1, creationTimestamp: "2025-06-01T00:00:00Z"}}
spec:
  schedule: "{schedule}"{extra}
  jobTemplate: {{spec: {{template: {{spec: {{restartPolicy: Never, containers: [{{name: b, image: b}}]}}}}}}}}
status: {status}
"#
    )
}

const POD: &str = r#"
---
apiVersion: v1
kind: Pod
metadata:
  name: backup-1-abc
  namespace: ops
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup-1, uid: j1, controller: true}]
spec: {containers: [{name: b, image: b}]}
status:
  phase: Failed
  containerStatuses:
  - {name: b, ready: false, restartCount: 0, image: b, imageID: "", state: {terminated: {exitCode: 2, reason: Error}}}
"#;

#[test]
fn failed_job_is_high_with_pod_evidence_and_hints() {
    let yaml = format!(
        "{}{POD}",
        job("backup-1", "2026-01-01T10:00:00Z", "Failed", None)
    );
    let f = run("job.failed", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::High);
    assert_eq!(
        f[0].title,
        "Job ops/backup-1 failed: BackoffLimitExceeded (6 failed pods, backoffLimit 6)"
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("exit code 2"))
    );
    assert_eq!(f[0].cause_hints[0].name, "backup-1-abc");
    // Complete and running jobs are fine.
    let ok = format!(
        "{}{}",
        job("a", "2026-01-01T10:00:00Z", "Complete", None),
        job("b", "2026-01-01T10:00:00Z", "", None)
    );
    assert!(run("job.failed", &index(&ok, &[])).is_empty());
}

#[test]
fn failed_job_superseded_by_a_newer_success_is_low() {
    let yaml = format!(
        "{}{}{}",
        cronjob("0 * * * *", Some("2026-01-01T11:00:00Z"), ""),
        job("backup-1", "2026-01-01T10:00:00Z", "Failed", Some("backup")),
        job(
            "backup-2",
            "2026-01-01T11:00:00Z",
            "Complete",
            Some("backup")
        )
    );
    let idx = index(&yaml, &[]);
    let f = run("job.failed", &idx);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Low);
    assert!(f[0].message.contains("backup-2"));
    // ...and the CronJob itself is not failing: its latest run succeeded.
    assert!(run("cronjob.failing", &idx).is_empty());
}

#[test]
fn cronjob_failing_when_latest_job_failed() {
    let yaml = format!(
        "{}{}{}",
        cronjob("0 * * * *", Some("2026-01-01T11:00:00Z"), ""),
        job(
            "backup-1",
            "2026-01-01T10:00:00Z",
            "Complete",
            Some("backup")
        ),
        job("backup-2", "2026-01-01T11:00:00Z", "Failed", Some("backup"))
    );
    let f = run("cronjob.failing", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].title.contains("backup-2: BackoffLimitExceeded"),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].cause_hints[0].display(), "Job/ops/backup-2");
}

#[test]
fn invalid_schedule_is_flagged_and_valid_one_is_not() {
    let f = run(
        "cronjob.invalid-schedule",
        &index(&cronjob("0 25 * * *", None, ""), &[]),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::High);
    assert!(
        f[0].title.contains("hour 25 is out of range 0-23"),
        "{}",
        f[0].title
    );
    let every = run(
        "cronjob.invalid-schedule",
        &index(&cronjob("@every 1h", None, ""), &[]),
    );
    assert!(every[0].title.contains("@every"));
    assert!(
        run(
            "cronjob.invalid-schedule",
            &index(&cronjob("*/10 * * * 1-5", None, ""), &[])
        )
        .is_empty()
    );
    // A TZ prefix parses but is worth a low note.
    let tz = run(
        "cronjob.invalid-schedule",
        &index(&cronjob("TZ=UTC 0 3 * * *", None, ""), &[]),
    );
    assert_eq!(tz.len(), 1);
    assert_eq!(tz[0].severity, Severity::Low);
    assert!(
        tz[0]
            .remediation
            .patch
            .as_deref()
            .is_some_and(|p| p.contains("timeZone: \"UTC\""))
    );
}

#[test]
fn suspended_cronjob_is_info() {
    let f = run(
        "cronjob.suspended",
        &index(&cronjob("@daily", None, "\n  suspend: true"), &[]),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Info);
    assert!(
        run(
            "cronjob.suspended",
            &index(&cronjob("@daily", None, ""), &[])
        )
        .is_empty()
    );
}

#[test]
fn missed_schedules_after_two_intervals() {
    // Hourly, last run 08:00, now 12:00: 09:00, 10:00, 11:00 and 12:00 were missed.
    let f = run(
        "cronjob.missed-schedules",
        &index(&cronjob("0 * * * *", Some("2026-01-01T08:00:00Z"), ""), &[]),
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("2026-01-01T09:00:00Z"))
    );
    assert!(f[0].cause_hints.is_empty());
    // Last run 11:00: the 12:00 run is due just now. Not missed.
    assert!(
        run(
            "cronjob.missed-schedules",
            &index(&cronjob("0 * * * *", Some("2026-01-01T11:00:00Z"), ""), &[])
        )
        .is_empty()
    );
    // Last run 10:00: only 11:00 missed (within 2 intervals + grace).
    assert!(
        run(
            "cronjob.missed-schedules",
            &index(&cronjob("0 * * * *", Some("2026-01-01T10:00:00Z"), ""), &[])
        )
        .is_empty()
    );
    // Suspended or weekly with a recent run: nothing.
    let s = cronjob(
        "0 * * * *",
        Some("2026-01-01T08:00:00Z"),
        "\n  suspend: true",
    );
    assert!(run("cronjob.missed-schedules", &index(&s, &[])).is_empty());
    let w = cronjob("@weekly", Some("2025-12-28T00:00:00Z"), "");
    assert!(run("cronjob.missed-schedules", &index(&w, &[])).is_empty());
}

#[test]
fn missed_schedules_blamed_on_a_hung_job_under_forbid() {
    let yaml = format!(
        "{}{}",
        cronjob(
            "*/10 * * * *",
            Some("2026-01-01T09:00:00Z"),
            "\n  concurrencyPolicy: Forbid"
        )
        .replace(
            "status: {lastScheduleTime",
            "status: {active: [{kind: Job, name: backup-9, namespace: ops}], lastScheduleTime"
        ),
        job("backup-9", "2026-01-01T09:00:00Z", "", Some("backup"))
    );
    let f = run("cronjob.missed-schedules", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(f[0].message.contains("backup-9 is still running"));
    assert_eq!(f[0].cause_hints[0].display(), "Job/ops/backup-9");
}
