//! Jobs and CronJobs: failed Jobs, CronJobs whose schedule is invalid, that are suspended,
//! that stopped running on schedule, or whose latest run failed.

mod cron;

use k8s_openapi::api::batch::v1::{CronJob, Job, JobCondition};
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{events_with, human_duration, latest_events, ns_name, obj_ref, pod_ref};
use crate::workload::{GRACE_SECS, pod_state, since};

const JOB_FAILED: CheckInfo = CheckInfo::new(
    "job.failed",
    Category::Reliability,
    Severity::High,
    "A Job failed (backoff limit or active deadline exceeded)",
    &[Kind::Job, Kind::CronJob, Kind::Pod, Kind::Event],
)
.confidence(0.95);

const INVALID_SCHEDULE: CheckInfo = CheckInfo::new(
    "cronjob.invalid-schedule",
    Category::Config,
    Severity::High,
    "A CronJob's schedule is not a valid cron expression, so it never runs",
    &[Kind::CronJob, Kind::Event],
)
.confidence(0.97);

const SUSPENDED: CheckInfo = CheckInfo::new(
    "cronjob.suspended",
    Category::Reliability,
    Severity::Info,
    "A CronJob is suspended and starts no Jobs",
    &[Kind::CronJob],
);

const MISSED: CheckInfo = CheckInfo::new(
    "cronjob.missed-schedules",
    Category::Reliability,
    Severity::Medium,
    "A CronJob has not started a Job for more than two schedule intervals",
    &[Kind::CronJob, Kind::Job, Kind::Event],
)
.confidence(0.8);

const FAILING: CheckInfo = CheckInfo::new(
    "cronjob.failing",
    Category::Reliability,
    Severity::Medium,
    "The most recent Job of a CronJob failed",
    &[Kind::CronJob, Kind::Job],
);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(JOB_FAILED, job_failed),
        Check::new(INVALID_SCHEDULE, invalid_schedule),
        Check::new(SUSPENDED, suspended),
        Check::new(MISSED, missed_schedules),
        Check::new(FAILING, failing),
    ]
}

fn condition<'a>(j: &'a Job, t: &str) -> Option<&'a JobCondition> {
    j.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t && c.status == "True")
}

fn created(j: &Job) -> Option<jiff::Timestamp> {
    j.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Jobs a CronJob owns, oldest first.
fn jobs_of<'a>(idx: &'a ClusterIndex, ns: &str, name: &str) -> Vec<&'a Job> {
    let mut v: Vec<&Job> = idx
        .children_of(Kind::CronJob, ns, name)
        .iter()
        .filter(|k| k.kind == Kind::Job)
        .filter_map(|k| idx.objects.jobs.get(&k.namespace, &k.name))
        .collect();
    v.sort_by(|a, b| {
        created(a)
            .cmp(&created(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    v
}

fn job_name(j: &Job) -> &str {
    j.metadata.name.as_deref().unwrap_or("")
}

fn job_failed(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for j in ctx.idx.objects.jobs.iter() {
        let Some(c) = condition(j, "Failed") else {
            continue;
        };
        let (ns, name) = ns_name(&j.metadata);
        let reason = c.reason.as_deref().unwrap_or("Failed");
        let failed = j.status.as_ref().and_then(|s| s.failed).unwrap_or(0);
        let spec = j.spec.as_ref();
        let backoff = spec.and_then(|s| s.backoff_limit).unwrap_or(6);
        let detail = match reason {
            "DeadlineExceeded" => format!(
                "activeDeadlineSeconds {} passed",
                spec.and_then(|s| s.active_deadline_seconds).unwrap_or(0)
            ),
            _ => format!("{failed} failed pods, backoffLimit {backoff}"),
        };
        let cron = ClusterIndex::controller_of(&j.metadata).filter(|k| k.kind == Kind::CronJob);
        let newer_success = cron.as_ref().and_then(|k| {
            jobs_of(ctx.idx, ns, &k.name)
                .into_iter()
                .rfind(|o| created(o) > created(j) && condition(o, "Complete").is_some())
        });
        let pods = ctx.idx.pods_of(Kind::Job, ns, name);
        let mut evidence = vec![
            Evidence::status(format!(
                "condition Failed=True ({reason}{}): {}",
                since(ctx, c.last_transition_time.as_ref())
                    .map(|s| format!(", {} ago", human_duration(s)))
                    .unwrap_or_default(),
                c.message.as_deref().unwrap_or("").trim()
            )),
            Evidence::status(format!(
                "status.failed={failed}, spec.backoffLimit={backoff}, status.succeeded={}",
                j.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0)
            )),
        ];
        evidence.extend(
            pods.iter()
                .take(3)
                .map(|p| Evidence::status(format!("Pod {}: {}", pod_ref(p).name, pod_state(p)))),
        );
        let warnings: Vec<_> = events_with(ctx.idx, Kind::Job, &j.metadata, &[])
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .collect();
        evidence.extend(latest_events(&warnings, ctx.now, 2));
        let mut commands = vec![
            format!("kubectl -n {ns} logs job/{name} --all-containers"),
            format!("kubectl -n {ns} describe job {name}"),
        ];
        let mut message = format!(
            "Job {name} gave up: {reason} ({detail}). The work it was meant to do did not \
             complete. Its pods' logs and exit codes show why they failed."
        );
        let mut b = ctx.finding(info, obj_ref(Kind::Job, &j.metadata), "");
        match (&cron, newer_success) {
            (Some(k), Some(ok)) => {
                b = b.severity(Severity::Low);
                message.push_str(&format!(
                    " A newer Job of CronJob {}, {}, has since succeeded, so this failure is in \
                     the past.",
                    k.name,
                    job_name(ok)
                ));
                commands.push(format!("kubectl -n {ns} delete job {name}"));
            }
            (Some(k), None) => commands.push(format!(
                "kubectl -n {ns} create job {}-manual --from=cronjob/{}   # re-run once fixed",
                k.name, k.name
            )),
            (None, _) => commands.push(format!(
                "kubectl -n {ns} delete job {name}   # then re-apply it from your manifests once fixed"
            )),
        }
        b.title(format!("Job {ns}/{name} failed: {reason} ({detail})"))
            .message(message)
            .evidences(evidence)
            .fix("Find out from the pod logs why the Job's pods failed, fix it, and run the Job again.", commands)
            .cause_hints(pods.iter().map(|p| pod_ref(p)))
            .push(out);
    }
}

fn invalid_schedule(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for cj in ctx.idx.objects.cronjobs.iter() {
        let Some(spec) = cj.spec.as_ref() else {
            continue;
        };
        let (ns, name) = ns_name(&cj.metadata);
        let sched = spec.schedule.as_str();
        let object = obj_ref(Kind::CronJob, &cj.metadata);
        let events = events_with(
            ctx.idx,
            Kind::CronJob,
            &cj.metadata,
            &["UnparseableSchedule", "InvalidSchedule"],
        );
        match cron::parse(sched) {
            Err(e) => ctx
                .finding(info, object, "")
                .title(format!("CronJob {ns}/{name} has an invalid schedule {sched:?}: {e}"))
                .message(format!(
                    "The schedule {sched:?} of CronJob {name} is not a valid 5-field cron \
                     expression ({e}). The CronJob controller cannot compute when to run it, so \
                     it never starts a Job."
                ))
                .evidence(Evidence::spec(format!("spec.schedule: {sched:?}")))
                .evidences(latest_events(&events, ctx.now, 1))
                .fix(
                    "Set a valid schedule: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\" for 03:00 every day.",
                    [format!("kubectl -n {ns} edit cronjob {name}")],
                )
                .patch("spec:\n  schedule: \"0 3 * * *\"   # replace with the schedule you meant\n")
                .push(out),
            Ok(s) => {
                let Some(tz) = s.tz_prefix else { continue };
                let rest = sched.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim());
                ctx.finding(info, object, "tz-prefix")
                    .severity(Severity::Low)
                    .title(format!("CronJob {ns}/{name} sets its time zone with a {tz:?} prefix in the schedule"))
                    .message(format!(
                        "The schedule {sched:?} carries a TZ=/CRON_TZ= prefix. Older Kubernetes \
                         versions accept it, but v1.25 and later reject it on create and update: \
                         the next change to this CronJob will fail. Move the zone to spec.timeZone."
                    ))
                    .evidence(Evidence::spec(format!("spec.schedule: {sched:?}")))
                    .fix(
                        "Move the time zone from the schedule to spec.timeZone.",
                        [format!(
                            "kubectl -n {ns} patch cronjob {name} -p '{{\"spec\":{{\"schedule\":\"{rest}\",\"timeZone\":\"{tz}\"}}}}'"
                        )],
                    )
                    .patch(format!("spec:\n  schedule: \"{rest}\"\n  timeZone: \"{tz}\"\n"))
                    .push(out);
            }
        }
    }
}

fn is_suspended(cj: &CronJob) -> bool {
    cj.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

fn last_schedule(cj: &CronJob) -> Option<jiff::Timestamp> {
    cj.status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .map(|t| t.0)
}

fn suspended(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for cj in ctx.idx.objects.cronjobs.iter().filter(|c| is_suspended(c)) {
        let (ns, name) = ns_name(&cj.metadata);
        let last = last_schedule(cj)
            .map(|t| format!("last run scheduled {} ago", human_duration(ctx.age_secs(t))))
            .unwrap_or_else(|| "it has never run".to_string());
        ctx.finding(info, obj_ref(Kind::CronJob, &cj.metadata), "")
            .title(format!("CronJob {ns}/{name} is suspended"))
            .message(format!(
                "spec.suspend is true, so CronJob {name} starts no new Jobs until it is resumed \
                 ({last}). Fine if intended (maintenance), a problem if forgotten."
            ))
            .evidence(Evidence::spec("spec.suspend: true"))
            .fix(
                "Resume the CronJob if it should run.",
                [format!(
                    "kubectl -n {ns} patch cronjob {name} -p '{{\"spec\":{{\"suspend\":false}}}}'"
                )],
            )
            .patch("spec:\n  suspend: false\n")
            .push(out);
    }
}

fn missed_schedules(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for cj in ctx.idx.objects.cronjobs.iter() {
        let Some(spec) = cj.spec.as_ref() else {
            continue;
        };
        if is_suspended(cj) {
            continue;
        }
        let Ok(sched) = cron::parse(&spec.schedule) else {
            continue;
        };
        let (ns, name) = ns_name(&cj.metadata);
        let zone_name = spec.time_zone.clone().or(sched.tz_prefix.clone());
        // Without the zone's rules, compute in UTC and allow for the largest offset.
        let (tz, slack) = match zone_name.as_deref().map(jiff::tz::TimeZone::get) {
            None => (jiff::tz::TimeZone::UTC, 0),
            Some(Ok(tz)) => (tz, 0),
            Some(Err(_)) => (jiff::tz::TimeZone::UTC, 14 * 3600),
        };
        let never = last_schedule(cj).is_none();
        let Some(last) = last_schedule(cj).or(cj.metadata.creation_timestamp.as_ref().map(|t| t.0))
        else {
            continue;
        };
        let Some(next1) = sched.cron.next_fire(last, &tz) else {
            continue;
        };
        let Some(next2) = sched.cron.next_fire(next1, &tz) else {
            continue;
        };
        let interval = next2.as_second() - next1.as_second();
        let grace = spec
            .starting_deadline_seconds
            .unwrap_or(GRACE_SECS)
            .max(GRACE_SECS)
            + slack;
        let overdue = ctx.now.as_second() - next1.as_second();
        if overdue <= interval + grace {
            continue;
        }
        let ago = human_duration(ctx.age_secs(last));
        let mut evidence = vec![
            Evidence::spec(format!(
                "spec.schedule: {:?} (every {} here)",
                spec.schedule,
                human_duration(interval)
            )),
            Evidence::status(if never {
                format!("status.lastScheduleTime: never (created {ago} ago)")
            } else {
                format!("status.lastScheduleTime: {last} ({ago} ago)")
            }),
            Evidence::status(format!(
                "next run was expected at {next1}, {} ago",
                human_duration(overdue)
            )),
        ];
        let warnings: Vec<_> = events_with(ctx.idx, Kind::CronJob, &cj.metadata, &[])
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .collect();
        evidence.extend(latest_events(&warnings, ctx.now, 2));
        let active: Vec<&str> = cj
            .status
            .as_ref()
            .and_then(|s| s.active.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|r| r.name.as_deref())
            .collect();
        let forbid = spec.concurrency_policy.as_deref() == Some("Forbid");
        let since_txt = if never {
            format!("was created {ago} ago and has never run")
        } else {
            format!("last started a Job {ago} ago")
        };
        let mut b = ctx.finding(info, obj_ref(Kind::CronJob, &cj.metadata), "");
        let why = if forbid && !active.is_empty() {
            evidence.push(Evidence::status(format!(
                "status.active: {}",
                active.join(", ")
            )));
            b = b.cause_hints(active.iter().map(|j| crate::util::ref_to(Kind::Job, ns, j)));
            format!(
                "Its concurrencyPolicy is Forbid and Job {} is still running, so every run since \
                 was skipped: that Job is probably hung.",
                active.join(", ")
            )
        } else {
            "Runs were missed: the CronJob controller may be unhealthy, the Job could not be \
             created (see the events), or startingDeadlineSeconds is too short."
                .to_string()
        };
        b.title(format!(
            "CronJob {ns}/{name} has missed its schedule: no run since {ago} (schedule {:?})",
            spec.schedule
        ))
        .message(format!(
            "CronJob {name} {since_txt}, but its schedule {:?} should have started one at {next1} \
             and again since. {why}",
            spec.schedule
        ))
        .evidences(evidence)
        .fix(
            "Check the CronJob's events and the controller, then start a run by hand if the work is due.",
            [
                format!("kubectl -n {ns} describe cronjob {name}"),
                format!("kubectl -n {ns} get jobs"),
                format!("kubectl -n {ns} create job {name}-manual --from=cronjob/{name}"),
            ],
        )
        .push(out);
    }
}

fn failing(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for cj in ctx.idx.objects.cronjobs.iter() {
        let (ns, name) = ns_name(&cj.metadata);
        let jobs = jobs_of(ctx.idx, ns, name);
        let Some(last) = jobs.last() else { continue };
        let Some(c) = condition(last, "Failed") else {
            continue;
        };
        let streak = jobs
            .iter()
            .rev()
            .take_while(|j| condition(j, "Failed").is_some())
            .count();
        let reason = c.reason.as_deref().unwrap_or("Failed");
        let jname = job_name(last);
        let runs = if streak > 1 {
            format!("its last {streak} Jobs failed")
        } else {
            "its last Job failed".to_string()
        };
        ctx.finding(info, obj_ref(Kind::CronJob, &cj.metadata), "")
            .title(format!("CronJob {ns}/{name}: {runs} ({jname}: {reason})"))
            .message(format!(
                "The most recent run of CronJob {name}, Job {jname}, failed with {reason}. \
                 The scheduled work is not getting done; the Job's pods show why."
            ))
            .evidence(Evidence::status(format!(
                "Job {jname}: Failed=True ({reason}): {}",
                c.message.as_deref().unwrap_or("").trim()
            )))
            .evidence(Evidence::status(format!(
                "{} of the {} Jobs kept in history failed",
                jobs.iter()
                    .filter(|j| condition(j, "Failed").is_some())
                    .count(),
                jobs.len()
            )))
            .fix(
                "Read the failed Job's logs, fix the cause, then run it again.",
                [
                    format!("kubectl -n {ns} logs job/{jname} --all-containers"),
                    format!("kubectl -n {ns} create job {name}-manual --from=cronjob/{name}"),
                ],
            )
            .cause_hint(obj_ref(Kind::Job, &last.metadata))
            .push(out);
    }
}

#[cfg(test)]
mod tests;
