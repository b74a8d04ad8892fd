// `labels`: an example trait in C, against the bindings `wit-bindgen c` generated
// from ../../../wit (committed in bindings/; regenerate them when wit/ changes).
//
// Adds labels and annotations to the workload, to every child the workload type
// rendered, and to the pod template of each of them that has one (`spec.template`).
// The same trait is written in Rust, Python and JavaScript next to this folder; all
// four give the same answers (`../testdata/expected.json`).
//
// C has no JSON library in wasi-libc, so this file carries a small scanner that
// finds members in the JSON the host passes and copies their text verbatim. A
// real plugin would rather use a JSON library (cJSON, jsmn, ...).
//
// Memory: every string and list handed back to the host must come from malloc,
// as the bindings' post-return functions free them. Inputs are not freed: the
// instance is thrown away after every call.

#include <stdlib.h>
#include <string.h>

#include "bindings/trait_plugin.h"

// The JSON Schema of the trait's `spec` (../schema.json, as one line; the golden
// test checks they are the same). The host validates every trait against it.
static const char SCHEMA[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"labels trait spec\","
    "\"description\":\"Labels and annotations to add to the workload, its children and their pod templates.\","
    "\"type\":\"object\",\"properties\":{"
    "\"labels\":{\"description\":\"Labels to add, name to value.\",\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"annotations\":{\"description\":\"Annotations to add, name to value.\",\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"workloadRef\":{\"description\":\"The workload this trait applies to; filled in by the host.\",\"type\":\"object\"}},"
    "\"additionalProperties\":false}";

// The bindings expect the `trait_plugin_component_type.o` that `wit-bindgen c`
// writes, which carries the WIT world; ./componentize embeds the world itself
// (no binary object committed), so this empty function stands in for it.
void __component_type_object_force_link_trait_plugin(void) {}

// ---- a minimal JSON scanner over [p, end) ------------------------------------

typedef struct {
  const char *p, *end;  // p == NULL: absent
} span;

static const char *ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

// p at '"': returns just past the closing quote, or NULL.
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}

// Returns just past the value starting at p, or NULL.
static const char *skip_value(const char *p, const char *end) {
  if (p >= end) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < end) {
      if (*p == '"') {
        p = skip_string(p, end);
        if (!p) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
      p++;
    }
    return NULL;
  }
  while (p < end && !strchr(",}] \n\r\t", *p)) p++;  // number, true, false, null
  return p;
}

// The value of member `key` of the object `obj`; absent if obj is not an object.
static span member(span obj, const char *key) {
  span none = {NULL, NULL};
  if (!obj.p) return none;
  const char *p = ws(obj.p, obj.end);
  if (p >= obj.end || *p != '{') return none;
  size_t key_len = strlen(key);
  for (p = ws(p + 1, obj.end); p < obj.end && *p == '"';) {
    const char *name = p + 1, *after = skip_string(p, obj.end);
    if (!after) return none;
    p = ws(after, obj.end);
    if (p >= obj.end || *p != ':') return none;
    const char *value = ws(p + 1, obj.end), *value_end = skip_value(value, obj.end);
    if (!value_end) return none;
    if ((size_t)(after - 1 - name) == key_len && memcmp(name, key, key_len) == 0)
      return (span){value, value_end};
    p = ws(value_end, obj.end);
    if (p < obj.end && *p == ',') p = ws(p + 1, obj.end);
  }
  return none;
}

static span path2(span obj, const char *a, const char *b) { return member(member(obj, a), b); }

static int is_object(span v) { return v.p && *v.p == '{'; }

static int is_nonempty_object(span v) {
  return is_object(v) && *ws(v.p + 1, v.end) != '}';
}

// A JSON string's contents (no unescaping: Kubernetes names have no escapes).
static void dup_json_string(trait_plugin_string_t *out, span v) {
  if (v.p && *v.p == '"' && v.end - v.p >= 2) trait_plugin_string_dup_n(out, v.p + 1, (size_t)(v.end - v.p - 2));
  else trait_plugin_string_dup(out, "");
}

// ---- a growable output buffer -------------------------------------------------

typedef struct {
  char *data;
  size_t len, cap;
} buf;

static void put_n(buf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->data = realloc(b->data, b->cap);
    if (!b->data) abort();
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static void put(buf *b, const char *s) { put_n(b, s, strlen(s)); }

static void put_span(buf *b, span v) { put_n(b, v.p, (size_t)(v.end - v.p)); }

static trait_plugin_string_t take(buf *b) {
  return (trait_plugin_string_t){(uint8_t *)b->data, b->len};
}

// ---- the trait -----------------------------------------------------------------

// The merge patch for one object: its metadata and, with a pod template, the template's.
static trait_plugin_string_t patch_body(span object, const buf *metadata) {
  buf b = {0};
  put(&b, "{\"metadata\":");
  put_n(&b, metadata->data, metadata->len);
  if (is_object(path2(object, "spec", "template"))) {
    put(&b, ",\"spec\":{\"template\":{\"metadata\":");
    put_n(&b, metadata->data, metadata->len);
    put(&b, "}}");
  }
  put(&b, "}");
  return take(&b);
}

static span of(trait_plugin_string_t *s) {
  return (span){(const char *)s->ptr, (const char *)s->ptr + s->len};
}

void exports_oam_plugin_trait_api_describe(exports_oam_plugin_trait_api_info_t *ret) {
  trait_plugin_string_dup(&ret->name, "labels");
  trait_plugin_string_dup(&ret->version, "0.1.0");
  trait_plugin_string_dup(&ret->description,
                          "Adds labels and annotations to the workload, its children and their pod templates.");
  ret->applies_to.len = 1;
  ret->applies_to.ptr = malloc(sizeof(trait_plugin_string_t));
  trait_plugin_string_dup(&ret->applies_to.ptr[0], "*");
  trait_plugin_string_dup(&ret->properties_schema, SCHEMA);
}

bool exports_oam_plugin_trait_api_apply(exports_oam_plugin_trait_api_context_t *ctx,
                                        trait_plugin_string_t *trait_object,
                                        trait_plugin_string_t *workload,
                                        trait_plugin_list_string_t *children,
                                        exports_oam_plugin_trait_api_outcome_t *ret,
                                        exports_oam_plugin_trait_api_plugin_error_t *err) {
  (void)ctx;
  span spec = member(of(trait_object), "spec");
  span labels = member(spec, "labels"), annotations = member(spec, "annotations");
  int has_labels = is_nonempty_object(labels), has_annotations = is_nonempty_object(annotations);
  if (!has_labels && !has_annotations) {
    trait_plugin_string_dup(&err->message, "nothing to add: spec.labels and spec.annotations are both empty");
    err->field.is_some = true;
    trait_plugin_string_dup(&err->field.val, "spec.labels");
    return false;
  }

  // The schema guarantees both are objects of strings: their text is copied as is.
  buf metadata = {0};
  put(&metadata, "{");
  if (has_labels) {
    put(&metadata, "\"labels\":");
    put_span(&metadata, labels);
  }
  if (has_annotations) {
    put(&metadata, has_labels ? ",\"annotations\":" : "\"annotations\":");
    put_span(&metadata, annotations);
  }
  put(&metadata, "}");

  size_t n = 1 + children->len;
  oam_plugin_types_patch_t *patches = calloc(n, sizeof(oam_plugin_types_patch_t));
  if (!patches) abort();
  patches[0].target.tag = OAM_PLUGIN_TYPES_PATCH_TARGET_WORKLOAD;
  patches[0].body.tag = OAM_PLUGIN_TYPES_PATCH_BODY_MERGE;
  patches[0].body.val.merge = patch_body(of(workload), &metadata);
  for (size_t i = 0; i < children->len; i++) {
    span child = of(&children->ptr[i]);
    oam_plugin_types_patch_t *patch = &patches[1 + i];
    patch->target.tag = OAM_PLUGIN_TYPES_PATCH_TARGET_CHILD;
    dup_json_string(&patch->target.val.child.api_version, member(child, "apiVersion"));
    dup_json_string(&patch->target.val.child.kind, member(child, "kind"));
    dup_json_string(&patch->target.val.child.name, path2(child, "metadata", "name"));
    patch->body.tag = OAM_PLUGIN_TYPES_PATCH_BODY_MERGE;
    patch->body.val.merge = patch_body(child, &metadata);
  }
  free(metadata.data);
  ret->patches.ptr = patches;
  ret->patches.len = n;
  ret->outputs.ptr = NULL;
  ret->outputs.len = 0;
  return true;
}

void exports_oam_plugin_trait_api_health(exports_oam_plugin_trait_api_context_t *ctx,
                                         trait_plugin_list_string_t *observed,
                                         exports_oam_plugin_trait_api_health_report_t *ret) {
  (void)ctx;
  (void)observed;
  ret->state = OAM_PLUGIN_TYPES_HEALTH_STATE_HEALTHY;
  trait_plugin_string_dup(&ret->message, "labels creates no objects");
}
