//! Label and field selectors, parsed from the `labelSelector` / `fieldSelector` query
//! parameters and matched against stored objects.
//!
//! Owns the selector grammar only; knows nothing about storage or HTTP.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label or field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Selector {
    reqs: Vec<Req>,
    fields: bool,
}

/// Splits at commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn set_values(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesized set of values, got {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl Selector {
    pub fn parse_labels(s: &str) -> Result<Selector, String> {
        Self::parse(s, false)
    }

    pub fn parse_fields(s: &str) -> Result<Selector, String> {
        Self::parse(s, true)
    }

    fn parse(s: &str, fields: bool) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let req = if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if fields {
                return Err(format!("invalid field selector requirement {part:?}"));
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Req::NotIn(k.trim().into(), set_values(v)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Req::In(k.trim().into(), set_values(v)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if part.contains(['(', ')', ' ', '<', '>']) {
                return Err(format!("unable to parse requirement {part:?}"));
            } else {
                Req::Exists(part)
            };
            reqs.push(req);
        }
        Ok(Selector { reqs, fields })
    }

    fn lookup(&self, obj: &Value, key: &str) -> Option<String> {
        if self.fields {
            let mut cur = obj;
            for part in key.split('.') {
                cur = cur.get(part)?;
            }
            match cur {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
            .or_else(|| (key == "metadata.namespace").then(String::new))
        } else {
            obj["metadata"]["labels"][key].as_str().map(str::to_string)
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => self.lookup(obj, k).as_deref() == Some(v.as_str()),
            Req::NotEq(k, v) => self.lookup(obj, k).as_deref() != Some(v.as_str()),
            Req::In(k, vs) => self.lookup(obj, k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => self.lookup(obj, k).is_none_or(|x| !vs.contains(&x)),
            Req::Exists(k) => self.lookup(obj, k).is_some(),
            Req::NotExists(k) => self.lookup(obj, k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn label_grammar() {
        let o = json!({"metadata": {"name": "a", "labels": {"app": "web", "tier": "fe"}}});
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app in (x,web),tier=fe", true),
            ("missing notin (a)", true),
        ] {
            assert_eq!(
                Selector::parse_labels(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        let f = Selector::parse_fields("metadata.name=a,metadata.namespace!=x").unwrap();
        assert!(f.matches(&o));
    }
}
