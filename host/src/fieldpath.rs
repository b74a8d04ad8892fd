//! Field paths into JSON objects, as OAM writes them: `spec.containers[0].image`,
//! `metadata.labels[app.oam.dev/name]`, `metadata.annotations["a.b/c"]`.
//!
//! Used for Component `parameters[].fieldPaths`, `workloadRefPath` and
//! `podSpecPath`. Pure; owns nothing but the syntax and how a value is read
//! or written at a path.

use std::fmt;

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    Index(usize),
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<Segment>,
}

/// Why a path could not be parsed or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("invalid field path {path:?}: {reason}")]
    Syntax { path: String, reason: &'static str },
    #[error("cannot set {path:?}: {at} is a {found}, not an {expected}")]
    Type {
        path: String,
        at: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error(
        "cannot set {path:?}: index {index} is more than {MAX_GROWTH} past the end of {at} \
         (length {len})"
    )]
    TooFar {
        path: String,
        at: String,
        index: usize,
        len: usize,
    },
}

/// How far past its end `set` grows an array (with nulls). Crossplane's
/// fieldpath has no bound; here an index like `[99999999999]` in a
/// parameter's fieldPaths is an error, not gigabytes of nulls.
pub const MAX_GROWTH: usize = 1024;

impl FieldPath {
    /// Parse `a.b[0].c`, `a[key.with.dots]` or `a["quoted"]`.
    pub fn parse(path: &str) -> Result<FieldPath, PathError> {
        let err = |reason| PathError::Syntax {
            path: path.to_string(),
            reason,
        };
        let mut segments = Vec::new();
        let mut chars = path.char_indices().peekable();
        let mut field = String::new();
        let mut expect_field = true;
        while let Some((_, c)) = chars.next() {
            match c {
                '.' => {
                    if field.is_empty() {
                        if expect_field {
                            return Err(err("empty field name"));
                        }
                    } else {
                        segments.push(Segment::Field(std::mem::take(&mut field)));
                    }
                    expect_field = true;
                }
                '[' => {
                    if !field.is_empty() {
                        segments.push(Segment::Field(std::mem::take(&mut field)));
                    } else if segments.is_empty() {
                        return Err(err("a path cannot start with '['"));
                    }
                    let mut inner = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == ']' {
                            closed = true;
                            break;
                        }
                        inner.push(c);
                    }
                    if !closed {
                        return Err(err("unclosed '['"));
                    }
                    let inner = inner.trim();
                    if inner.is_empty() {
                        return Err(err("empty brackets"));
                    }
                    let quoted = (inner.starts_with('"')
                        && inner.ends_with('"')
                        && inner.len() >= 2)
                        || (inner.starts_with('\'') && inner.ends_with('\'') && inner.len() >= 2);
                    if quoted {
                        segments.push(Segment::Field(inner[1..inner.len() - 1].to_string()));
                    } else if let Ok(i) = inner.parse::<usize>() {
                        segments.push(Segment::Index(i));
                    } else {
                        segments.push(Segment::Field(inner.to_string()));
                    }
                    expect_field = false;
                    if let Some((_, next)) = chars.peek()
                        && *next != '.'
                        && *next != '['
                    {
                        return Err(err("expected '.' or '[' after ']'"));
                    }
                }
                ']' => return Err(err("unexpected ']'")),
                c => {
                    field.push(c);
                    expect_field = false;
                }
            }
        }
        if !field.is_empty() {
            segments.push(Segment::Field(field));
        } else if expect_field {
            return Err(err("a path cannot be empty or end with '.'"));
        }
        Ok(FieldPath { segments })
    }

    /// The steps of the path.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The value at this path, if every step exists.
    pub fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.segments.iter().try_fold(value, |v, seg| match seg {
            Segment::Field(name) => v.as_object()?.get(name),
            Segment::Index(i) => v.as_array()?.get(*i),
        })
    }

    /// The value at this path, mutably, if every step exists.
    pub fn get_mut<'a>(&self, value: &'a mut Value) -> Option<&'a mut Value> {
        self.segments.iter().try_fold(value, |v, seg| match seg {
            Segment::Field(name) => v.as_object_mut()?.get_mut(name),
            Segment::Index(i) => v.as_array_mut()?.get_mut(*i),
        })
    }

    /// Set `new` at this path, creating missing objects and growing arrays
    /// (with nulls, up to [`MAX_GROWTH`] past their end) on the way, as
    /// crossplane's fieldpath does. Null on the
    /// way is replaced; any other scalar of the wrong type is an error.
    pub fn set(&self, root: &mut Value, new: Value) -> Result<(), PathError> {
        let mut cur = root;
        for (depth, seg) in self.segments.iter().enumerate() {
            let at = || FieldPath {
                segments: self.segments[..depth].to_vec(),
            };
            match seg {
                Segment::Field(name) => {
                    if cur.is_null() {
                        *cur = Value::Object(Map::new());
                    }
                    let found = type_name(cur);
                    let Some(obj) = cur.as_object_mut() else {
                        return Err(PathError::Type {
                            path: self.to_string(),
                            at: at().to_string(),
                            found,
                            expected: "object",
                        });
                    };
                    cur = obj.entry(name.clone()).or_insert(Value::Null);
                }
                Segment::Index(i) => {
                    if cur.is_null() {
                        *cur = Value::Array(Vec::new());
                    }
                    let found = type_name(cur);
                    let Some(arr) = cur.as_array_mut() else {
                        return Err(PathError::Type {
                            path: self.to_string(),
                            at: at().to_string(),
                            found,
                            expected: "array",
                        });
                    };
                    if arr.len() <= *i {
                        if *i - arr.len() >= MAX_GROWTH {
                            return Err(PathError::TooFar {
                                path: self.to_string(),
                                at: at().to_string(),
                                index: *i,
                                len: arr.len(),
                            });
                        }
                        arr.resize(*i + 1, Value::Null);
                    }
                    cur = &mut arr[*i];
                }
            }
        }
        *cur = new;
        Ok(())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("(root)");
        }
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Field(name) if name.contains(['.', '[', ']']) => write!(f, "[{name}]")?,
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Turn an RFC 6901 JSON pointer (`/spec/containers/0/image`) into the
/// dotted form users read (`spec.containers[0].image`).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let token = raw.replace("~1", "/").replace("~0", "~");
        let index = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
        if index || token.contains(['.', '[', ']', '/']) {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    if out.is_empty() {
        "(root)".to_string()
    } else {
        out
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_dots_indices_and_brackets() {
        let p = FieldPath::parse("spec.containers[0].image").unwrap();
        assert_eq!(
            p.segments(),
            &[
                Segment::Field("spec".into()),
                Segment::Field("containers".into()),
                Segment::Index(0),
                Segment::Field("image".into()),
            ]
        );
        let p = FieldPath::parse("metadata.labels[app.oam.dev/name]").unwrap();
        assert_eq!(p.segments()[2], Segment::Field("app.oam.dev/name".into()));
        let p = FieldPath::parse("metadata.annotations[\"a.b/c\"].x").unwrap();
        assert_eq!(p.segments()[2], Segment::Field("a.b/c".into()));
        assert_eq!(p.segments()[3], Segment::Field("x".into()));
    }

    #[test]
    fn refuses_malformed_paths() {
        for bad in ["", ".a", "a.", "a..b", "a[", "a[]", "a]b", "[0]", "a[0]b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn sets_creating_intermediate_objects_and_arrays() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        FieldPath::parse("spec.containers[0].image")
            .unwrap()
            .set(&mut v, json!("y"))
            .unwrap();
        FieldPath::parse("metadata.name")
            .unwrap()
            .set(&mut v, json!("n"))
            .unwrap();
        FieldPath::parse("spec.list[2].k")
            .unwrap()
            .set(&mut v, json!(1))
            .unwrap();
        assert_eq!(v["spec"]["containers"][0]["image"], "y");
        assert_eq!(v["metadata"]["name"], "n");
        assert_eq!(v["spec"]["list"], json!([null, null, {"k": 1}]));
    }

    #[test]
    fn set_through_a_scalar_is_a_type_error_naming_where() {
        let mut v = json!({"spec": {"replicas": 3}});
        let err = FieldPath::parse("spec.replicas.x")
            .unwrap()
            .set(&mut v, json!(1))
            .unwrap_err();
        assert!(
            err.to_string().contains("spec.replicas is a number"),
            "{err}"
        );
    }

    #[test]
    fn set_grows_an_array_only_so_far() {
        let mut v = json!({"spec": {"list": [1]}});
        let far = FieldPath::parse("spec.list[99999999999]").unwrap();
        let err = far.set(&mut v, json!(2)).unwrap_err();
        assert!(
            matches!(
                err,
                PathError::TooFar {
                    len: 1,
                    index: 99_999_999_999,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("spec.list"), "{err}");
        assert_eq!(v, json!({"spec": {"list": [1]}}), "nothing written");
        let edge = FieldPath::parse(&format!("spec.list[{}]", MAX_GROWTH)).unwrap();
        edge.set(&mut v, json!(2)).unwrap();
        assert_eq!(v["spec"]["list"].as_array().unwrap().len(), MAX_GROWTH + 1);
    }

    #[test]
    fn get_follows_the_path() {
        let v = json!({"a": [{"b": 1}]});
        assert_eq!(FieldPath::parse("a[0].b").unwrap().get(&v), Some(&json!(1)));
        assert_eq!(FieldPath::parse("a[1].b").unwrap().get(&v), None);
    }

    #[test]
    fn pointers_read_as_paths() {
        assert_eq!(
            pointer_to_path("/spec/containers/0/image"),
            "spec.containers[0].image"
        );
        assert_eq!(
            pointer_to_path("/metadata/labels/app.oam.dev~1name"),
            "metadata.labels[app.oam.dev/name]"
        );
        assert_eq!(pointer_to_path(""), "(root)");
    }
}
