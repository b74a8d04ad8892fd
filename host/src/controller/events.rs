//! Events (`events.k8s.io/v1`) on the objects the host reconciles: one Event
//! per distinct message, repeats folded into its series.
//!
//! kube's `Recorder` keys its series by type, reason and action only and
//! keeps the first note: a user who fixes one field and breaks another would
//! keep reading about the first. Here the note is part of the key, so a new
//! message is a new Event, and the same message again within the series
//! window bumps `series.count` instead of adding one more object.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{EventType, Reporter};
use serde_json::json;

/// How long repeats of one message join the same Event (client-go's value).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Series remembered at most; expired ones go first, then all of them.
const MAX_SERIES: usize = 10_000;
/// The API server refuses notes longer than this (bytes).
const MAX_NOTE: usize = 1024;

/// One Event to publish.
#[derive(Debug, Clone)]
pub struct Note {
    pub type_: EventType,
    /// Short, CamelCase: why (`RenderFailed`, `ApplyFailed`, ...).
    pub reason: String,
    /// What the host was doing (`Render`, `Apply`, ...).
    pub action: String,
    /// The message for a human; cut to what the API server accepts.
    pub note: String,
}

struct Series {
    name: String,
    count: i32,
    started: Instant,
}

/// Publishes Events as `reporter`.
pub struct Events {
    client: Client,
    reporter: Reporter,
    series: Mutex<HashMap<u64, Series>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("reporter", &self.reporter)
            .finish_non_exhaustive()
    }
}

impl Events {
    pub fn new(client: Client, reporter: Reporter) -> Events {
        Events {
            client,
            reporter,
            series: Mutex::new(HashMap::new()),
        }
    }

    /// Publish `note` about `regarding`: a new Event, or one more in the
    /// series of the same message.
    pub async fn publish(
        &self,
        note: &Note,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let text = truncate(&note.note, MAX_NOTE);
        let key = key(note, &text, regarding);
        let now = MicroTime(Timestamp::now());
        let repeat = {
            let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
            match series.get_mut(&key) {
                Some(s) if s.started.elapsed() < SERIES_WINDOW => {
                    s.count = s.count.saturating_add(1);
                    Some((s.name.clone(), s.count))
                }
                _ => None,
            }
        };
        if let Some((name, count)) = repeat {
            let patch = json!({"series": EventSeries {count, last_observed_time: now.clone()}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Someone deleted it (or the TTL did): start a new one.
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!(
                    "{}.",
                    regarding.name.as_deref().unwrap_or("object")
                )),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            action: Some(note.action.clone()),
            reason: Some(note.reason.clone()),
            note: Some(text),
            type_: Some(
                match note.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            event_time: Some(now),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            ..Event::default()
        };
        let created = api.create(&PostParams::default(), &event).await?;
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if series.len() >= MAX_SERIES {
            series.retain(|_, s| s.started.elapsed() < SERIES_WINDOW);
            if series.len() >= MAX_SERIES {
                series.clear();
            }
        }
        series.insert(
            key,
            Series {
                name: created.metadata.name.unwrap_or_default(),
                count: 1,
                started: Instant::now(),
            },
        );
        Ok(())
    }
}

fn key(note: &Note, text: &str, regarding: &ObjectReference) -> u64 {
    let mut h = DefaultHasher::new();
    (
        &regarding.uid,
        &regarding.namespace,
        &regarding.name,
        &regarding.kind,
        matches!(note.type_, EventType::Warning),
        &note.reason,
        &note.action,
        text,
    )
        .hash(&mut h);
    h.finish()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(reason: &str, text: &str) -> Note {
        Note {
            type_: EventType::Warning,
            reason: reason.into(),
            action: "Render".into(),
            note: text.into(),
        }
    }

    fn object(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("ApplicationConfiguration".into()),
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn the_message_is_part_of_the_key() {
        let a = object("a");
        assert_eq!(key(&note("R", "x"), "x", &a), key(&note("R", "x"), "x", &a));
        assert_ne!(key(&note("R", "x"), "x", &a), key(&note("R", "y"), "y", &a));
        assert_ne!(key(&note("R", "x"), "x", &a), key(&note("S", "x"), "x", &a));
        assert_ne!(
            key(&note("R", "x"), "x", &a),
            key(&note("R", "x"), "x", &object("b"))
        );
    }

    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        let long = "é".repeat(600);
        let cut = truncate(&long, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate("short", MAX_NOTE), "short");
    }
}
