//! Every store method against SQLite (a file in a temp dir) and against a real PostgreSQL
//! that the tests start themselves (kaptain_testenv::Postgres, one database per test).
//!
//! Each test is written once as `async fn name(b: &Backend) -> TestResult` and instantiated
//! for both backends by `both!`.

mod audit;
mod claims;
mod common;
mod findings;
mod misc;
mod plans;
mod replicas;

pub use common::{Backend, TestResult};

/// Instantiates each generic test for SQLite and for PostgreSQL.
macro_rules! both {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> super::TestResult {
                    let b = super::Backend::sqlite().await?;
                    super::$module::$name(&b).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> super::TestResult {
                    let b = super::Backend::postgres().await?;
                    super::$module::$name(&b).await
                }
            )*
        }
    };
}

both!(
    findings::scan_appears_clears_and_reappears,
    findings::grouped_findings_go_on_from_their_pods_findings,
    findings::scan_updates_changed_content_and_ignores_duplicates,
    findings::pagination_covers_every_row_once_in_order,
    findings::filters_select_the_right_rows,
    findings::concurrent_scans_of_one_cluster_stay_consistent,
    findings::mttr_and_severity_chart,
    plans::open_findings_are_listed_from_an_index_in_order,
    replicas::stale_scans_change_nothing,
    replicas::replicas_recording_out_of_order_keep_a_consistent_history,
    replicas::fresh_database_opened_by_several_at_once,
    audit::chain_links_and_queries,
    audit::concurrent_appends_keep_one_linear_chain,
    audit::triggers_reject_update_and_delete,
    audit::modified_record_is_detected,
    audit::deleted_record_is_detected,
    audit::reordered_records_are_detected,
    claims::lease_acquire_renew_expire_takeover,
    claims::lease_racing_replicas_get_it_once,
    misc::runs_lifecycle,
    misc::token_lifecycle,
    misc::settings_secret_and_plain,
    misc::reopening_keeps_data_and_migrates_once,
);
