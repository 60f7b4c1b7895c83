use crate::check::Check;

pub(crate) fn checks() -> Vec<Check> {
    vec![]
}
