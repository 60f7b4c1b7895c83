//! LIST one kind from a live cluster, paginated: the per-kind dispatch generated from the
//! index's kinds table.

use kaptain_index::{Kind, Listed};

macro_rules! list_kind {
    ($( $variant:ident => $field:ident : $ty:ty, $group:literal, $version:literal, $plural:literal,
        namespaced = $ns:literal, alt = [$($alt:literal),*]; )*) => {
        /// LIST one kind from a live cluster, paginated.
        pub(crate) async fn list_kind(
            client: &kube::Client,
            kind: Kind,
            namespace: Option<&str>,
            lp: &kube::api::ListParams,
            values: crate::page::Values,
        ) -> Result<Listed, kube::Error> {
            let namespace = if kind.namespaced() { namespace } else { None };
            Ok(match kind {
                $(Kind::$variant => Listed::$variant(
                    crate::live::list_all::<$ty>(client, namespace, lp, values).await?,
                ),)*
            })
        }
    };
}

kaptain_index::for_each_kind!(list_kind);
