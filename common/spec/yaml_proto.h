// ParseYamlIntoProto: sets the fields of any proto message from a YAML (or
// JSON, a subset of YAML) document, by protobuf reflection.
//
// Mapping: a message is a YAML map keyed by proto field names; a oneof member
// is one such key (two members of one oneof are an error); an enum is its
// value name, case-insensitive, without the UNSPECIFIED zero value; a
// repeated field is a list; a map field is a YAML map; a message written as
// null (`random:`) is set and empty. Every problem is collected as a
// FieldError naming the field path and the bad value; parsing goes on after
// an error. No exception escapes. Stateless: thread-safe.
#ifndef NAS_COMMON_SPEC_YAML_PROTO_H_
#define NAS_COMMON_SPEC_YAML_PROTO_H_

#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/spec/field_error.h"
#include "google/protobuf/message.h"

namespace nas::spec {

struct YamlToProtoResult {
  // Every problem found, in document order. Empty: `message` holds the
  // document.
  std::vector<FieldError> errors;
  // Paths of repeated fields written as an explicitly empty list (`ops: []`),
  // which the message alone cannot tell from an omitted field.
  std::set<std::string> empty_lists;
};

// Merges the document `text` into `message` (which the caller owns).
YamlToProtoResult ParseYamlIntoProto(absl::string_view text,
                                     google::protobuf::Message* message);

}  // namespace nas::spec

#endif  // NAS_COMMON_SPEC_YAML_PROTO_H_
