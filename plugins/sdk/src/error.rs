//! [`PluginError`] constructors: every refusal says what is wrong and, where it
//! can, which field of the input is at fault.

#[allow(unused_imports, reason = "the names std's prelude would give")]
use crate::alloc_prelude::*;

use crate::PluginError;

/// A [`PluginError`] with `message` and no field. Add the field with
/// [`PluginError::at`]:
///
/// ```
/// use oam_plugin_sdk::error;
/// let e = error("replicaCount must be >= 0").at("spec.replicaCount");
/// assert_eq!(e.field.as_deref(), Some("spec.replicaCount"));
/// ```
///
/// Messages are lowercase and say what failed, as the host shows them to users
/// verbatim on the ApplicationConfiguration's status.
pub fn error(message: impl Into<String>) -> PluginError {
    PluginError {
        message: message.into(),
        field: None,
    }
}

impl PluginError {
    /// The same error, naming `field` (a path into the object the plugin was
    /// given, e.g. `spec.replicaCount` or `spec.rules[0].paths[1].backend`).
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The same error with `prefix` put in front of its field (or as its
    /// field when it has none), e.g. to turn `replicaCount` into
    /// `spec.replicaCount`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = Some(match self.field.take() {
            None => prefix.to_string(),
            Some(f) if prefix.is_empty() => f,
            Some(f) if f.starts_with('[') => format!("{prefix}{f}"),
            Some(f) => format!("{prefix}.{f}"),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_and_within_build_field_paths() {
        let e = error("bad").at("replicaCount").within("spec");
        assert_eq!(e.field.as_deref(), Some("spec.replicaCount"));
        let e = error("bad").at("[2].name").within("spec.items");
        assert_eq!(e.field.as_deref(), Some("spec.items[2].name"));
        assert_eq!(error("bad").within("spec").field.as_deref(), Some("spec"));
    }
}
