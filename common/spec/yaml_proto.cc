#include "common/spec/yaml_proto.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace nas::spec {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::OneofDescriptor;
using ::google::protobuf::Reflection;

// Upper bound on YAML nodes visited; aliases can make a small text expand.
constexpr int64_t kMaxNodes = 1000000;

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return QuoteValue(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "null";
}

std::string JoinPath(const std::string& parent, absl::string_view name) {
  if (parent.empty()) return std::string(name);
  return absl::StrCat(parent, ".", name);
}

// Enum value names a user may write: lower case, without the zero value.
std::vector<std::string> EnumChoices(const EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() == 0) continue;
    names.push_back(absl::AsciiStrToLower(type->value(i)->name()));
  }
  return names;
}

std::string Expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return "an integer";
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a non-negative integer";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat("one of: ",
                          absl::StrJoin(EnumChoices(field->enum_type()), ", "));
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "a map";
}

template <typename Int>
bool ParseInt(const std::string& text, Int* value) {
  return absl::SimpleAtoi(text, value);
}

bool ParseString(const std::string& text, std::string* value) {
  *value = text;
  return true;
}

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF): protobuf refuses to parse a `string` field holding
// anything else, so such a spec could be stored but never read back.
bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = text[i];
    int more = 0;
    uint32_t min = 0, code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      more = 1, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      more = 2, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      more = 3, min = 0x10000, code = c & 0x07;
    } else {
      return false;
    }
    if (i + more >= text.size()) return false;  // truncated sequence
    for (int k = 1; k <= more; ++k) {
      const unsigned char next = text[i + k];
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += more + 1;
  }
  return true;
}

bool ParseBool(const std::string& text, bool* value) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "yes" || lower == "on") {
    *value = true;
    return true;
  }
  if (lower == "false" || lower == "no" || lower == "off") {
    *value = false;
    return true;
  }
  return false;
}

bool ParseDouble(const std::string& text, double* value) {
  return absl::SimpleAtod(text, value) && std::isfinite(*value);
}

bool ParseFloat(const std::string& text, float* value) {
  double wide;
  if (!ParseDouble(text, &wide)) return false;
  *value = static_cast<float>(wide);
  return std::isfinite(*value);
}

template <typename T>
using Setter = void (Reflection::*)(Message*, const FieldDescriptor*, T) const;

// Parses `text` with `parse` and sets the singular `field` of `message` to
// the value, or appends it to the repeated one. False when `parse` fails.
template <typename T, typename Parse>
bool Store(Parse parse, const std::string& text, Message* message,
           const FieldDescriptor* field, Setter<T> set, Setter<T> add) {
  T value{};
  if (!parse(text, &value)) return false;
  const Reflection* reflection = message->GetReflection();
  (reflection->*(field->is_repeated() ? add : set))(message, field,
                                                    std::move(value));
  return true;
}

const EnumValueDescriptor* FindEnumValue(const EnumDescriptor* type,
                                         const std::string& text) {
  for (int i = 0; i < type->value_count(); ++i) {
    const EnumValueDescriptor* value = type->value(i);
    if (value->number() != 0 && absl::EqualsIgnoreCase(value->name(), text)) {
      return value;
    }
  }
  return nullptr;
}

class Converter {
 public:
  explicit Converter(YamlToProtoResult* result) : result_(*result) {}

  void ConvertMessage(const YAML::Node& node, const std::string& path,
                      Message* message) {
    if (!Visit(path)) return;
    if (node.IsNull()) return;  // `random:` selects an empty message.
    if (!node.IsMap()) {
      AddError(path, absl::StrCat("expected a map, got ", Describe(node)));
      return;
    }
    const Descriptor* type = message->GetDescriptor();
    std::set<std::string> keys;
    std::map<const OneofDescriptor*, std::string> oneof_members;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        AddError(path, absl::StrCat("expected field names as keys, got ",
                                    Describe(entry.first)));
        continue;
      }
      const std::string& name = entry.first.Scalar();
      const std::string child = JoinPath(path, name);
      if (!keys.insert(name).second) {
        AddError(child, "duplicate key");
        continue;
      }
      const FieldDescriptor* field = type->FindFieldByName(name);
      if (field == nullptr) {
        AddError(child,
                 absl::StrCat("unknown field", UnknownFieldHint(type, name)));
        continue;
      }
      if (const OneofDescriptor* oneof = field->real_containing_oneof()) {
        const auto [it, inserted] = oneof_members.emplace(oneof, name);
        if (!inserted) {
          AddError(child, absl::StrCat("conflicts with \"", it->second,
                                       "\" (set only one of: ",
                                       OneofMembers(oneof), ")"));
          continue;
        }
      }
      ConvertField(entry.second, child, message, field);
    }
  }

 private:
  // Counts a node; false once the document is too large.
  bool Visit(const std::string& path) {
    if (++visited_ <= kMaxNodes) return true;
    if (visited_ == kMaxNodes + 1) {
      AddError(path, absl::StrCat("document too large (more than ", kMaxNodes,
                                  " values)"));
    }
    return false;
  }

  void AddError(const std::string& path, std::string message) {
    result_.errors.push_back(FieldError{path, std::move(message)});
  }

  static std::string UnknownFieldHint(const Descriptor* type,
                                      const std::string& name) {
    std::vector<std::string> names;
    for (int i = 0; i < type->field_count(); ++i) {
      names.push_back(type->field(i)->name());
    }
    std::string hint = DidYouMean(name, names);
    if (!hint.empty()) return hint;
    return absl::StrCat(" (known fields: ", absl::StrJoin(names, ", "), ")");
  }

  static std::string OneofMembers(const OneofDescriptor* oneof) {
    std::vector<std::string> names;
    for (int i = 0; i < oneof->field_count(); ++i) {
      names.push_back(oneof->field(i)->name());
    }
    return absl::StrJoin(names, ", ");
  }

  void ConvertField(const YAML::Node& node, const std::string& path,
                    Message* message, const FieldDescriptor* field) {
    const Reflection* reflection = message->GetReflection();
    if (field->is_map()) {
      ConvertMap(node, path, message, field);
    } else if (field->is_repeated()) {
      ConvertList(node, path, message, field);
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      ConvertMessage(node, path, reflection->MutableMessage(message, field));
    } else {
      ConvertScalar(node, path, message, field);
    }
  }

  void ConvertList(const YAML::Node& node, const std::string& path,
                   Message* message, const FieldDescriptor* field) {
    if (!Visit(path)) return;
    if (!node.IsSequence()) {
      AddError(path, absl::StrCat("expected a list, got ", Describe(node)));
      return;
    }
    if (node.size() == 0) result_.empty_lists.insert(path);
    size_t index = 0;
    for (const YAML::Node& element : node) {
      const std::string child = absl::StrCat(path, "[", index++, "]");
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        ConvertMessage(element, child,
                       message->GetReflection()->AddMessage(message, field));
      } else {
        ConvertScalar(element, child, message, field);
      }
    }
  }

  void ConvertMap(const YAML::Node& node, const std::string& path,
                  Message* message, const FieldDescriptor* field) {
    if (!Visit(path)) return;
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      AddError(path, absl::StrCat("expected a map, got ", Describe(node)));
      return;
    }
    const Descriptor* entry_type = field->message_type();
    std::set<std::string> keys;
    for (const auto& entry : node) {
      const std::string child =
          JoinPath(path, entry.first.IsScalar() ? entry.first.Scalar() : "?");
      if (entry.first.IsScalar() && !keys.insert(entry.first.Scalar()).second) {
        AddError(child, "duplicate key");
        continue;
      }
      Message* item = message->GetReflection()->AddMessage(message, field);
      ConvertScalar(entry.first, child, item, entry_type->map_key());
      ConvertField(entry.second, child, item, entry_type->map_value());
    }
  }

  // Sets a singular scalar field, or appends to a repeated one.
  void ConvertScalar(const YAML::Node& node, const std::string& path,
                     Message* message, const FieldDescriptor* field) {
    if (!Visit(path)) return;
    if (!node.IsScalar()) {
      AddError(path, absl::StrCat("expected ", Expected(field), ", got ",
                                  Describe(node)));
      return;
    }
    const std::string& text = node.Scalar();
    bool ok = false;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        ok = Store<int32_t>(&ParseInt<int32_t>, text, message, field,
                            &Reflection::SetInt32, &Reflection::AddInt32);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        ok = Store<int64_t>(&ParseInt<int64_t>, text, message, field,
                            &Reflection::SetInt64, &Reflection::AddInt64);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        ok = Store<uint32_t>(&ParseInt<uint32_t>, text, message, field,
                             &Reflection::SetUInt32, &Reflection::AddUInt32);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        ok = Store<uint64_t>(&ParseInt<uint64_t>, text, message, field,
                             &Reflection::SetUInt64, &Reflection::AddUInt64);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        ok = Store<double>(&ParseDouble, text, message, field,
                           &Reflection::SetDouble, &Reflection::AddDouble);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        ok = Store<float>(&ParseFloat, text, message, field,
                          &Reflection::SetFloat, &Reflection::AddFloat);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        ok = Store<bool>(&ParseBool, text, message, field, &Reflection::SetBool,
                         &Reflection::AddBool);
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        if (field->type() == FieldDescriptor::TYPE_STRING &&
            !IsValidUtf8(text)) {
          AddError(path, absl::StrCat("expected UTF-8 text, got ",
                                      QuoteValue(text)));
          return;
        }
        ok = Store<std::string>(&ParseString, text, message, field,
                                &Reflection::SetString, &Reflection::AddString);
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        ok = Store<const EnumValueDescriptor*>(
            [field](const std::string& name,
                    const EnumValueDescriptor** value) {
              *value = FindEnumValue(field->enum_type(), name);
              return *value != nullptr;
            },
            text, message, field, &Reflection::SetEnum, &Reflection::AddEnum);
        if (!ok) {
          AddError(path, absl::StrCat("unknown value ", QuoteValue(text), " (",
                                      Expected(field), ")"));
          return;
        }
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;  // Not reached: messages are converted by ConvertMessage.
    }
    if (!ok) {
      AddError(path, absl::StrCat("expected ", Expected(field), ", got ",
                                  Describe(node)));
    }
  }

  YamlToProtoResult& result_;
  int64_t visited_ = 0;
};

// Counts parse events of documents with content (anything but null).
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark&) override { has_content_ = false; }
  void OnDocumentEnd() override { documents_ += has_content_ ? 1 : 0; }
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {
    has_content_ = true;
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    has_content_ = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    has_content_ = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    has_content_ = true;
  }
  void OnMapEnd() override {}

 private:
  int documents_ = 0;
  bool has_content_ = false;
};

// Documents with content in `text`, counting no further than 2. Bounded on
// purpose: yaml-cpp 0.7's LoadAll loops forever on some inputs (e.g. ",";
// jbeder/yaml-cpp#1040), so the documents are not loaded that way.
int CountDocuments(absl::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentCounter counter;
  for (int i = 0; i < 3 && counter.documents() < 2; ++i) {
    if (!parser.HandleNextDocument(counter)) break;
  }
  return counter.documents();
}

}  // namespace

YamlToProtoResult ParseYamlIntoProto(absl::string_view text,
                                     google::protobuf::Message* message) {
  YamlToProtoResult result;
  try {
    if (CountDocuments(text) > 1) {
      result.errors.push_back(
          FieldError{"", "expected one YAML document, got more (\"---\")"});
      return result;
    }
    const YAML::Node document = YAML::Load(std::string(text));
    if (document.IsNull()) {
      result.errors.push_back(FieldError{"", "empty document"});
      return result;
    }
    if (!document.IsMap()) {
      result.errors.push_back(
          FieldError{"", absl::StrCat("expected a map at the top level, got ",
                                      Describe(document))});
      return result;
    }
    Converter(&result).ConvertMessage(document, "", message);
  } catch (const YAML::Exception& e) {
    // e.what() repeats the position; build the message from its parts.
    if (e.mark.is_null()) {
      result.errors.push_back(
          FieldError{"", absl::StrCat("invalid YAML: ", e.msg)});
    } else {
      result.errors.push_back(FieldError{
          "", absl::StrCat("invalid YAML at line ", e.mark.line + 1,
                           ", column ", e.mark.column + 1, ": ", e.msg)});
    }
  }
  return result;
}

}  // namespace nas::spec
