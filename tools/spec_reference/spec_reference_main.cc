// Generates the job-spec reference (Markdown) from the API's descriptor set,
// so the reference is the proto comments and can never go stale:
//
//   spec_reference nas_api.desc > docs/job-spec-reference.md
//
// Walks nas.v1.JobSpec depth-first; each message gets one table of its
// fields (YAML key, type, description from the field's leading comment).
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

std::string Comment(const google::protobuf::SourceLocation& loc) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(loc.leading_comments, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.emplace_back(line);
  }
  return absl::StrReplaceAll(absl::StrJoin(lines, " "), {{"|", "\\|"}});
}

template <typename T>
std::string CommentOf(const T* d) {
  google::protobuf::SourceLocation loc;
  return d->GetSourceLocation(&loc) ? Comment(loc) : "";
}

std::string Anchor(const std::string& name) {
  std::string a;
  for (char c : name) a += static_cast<char>(std::tolower(c));
  return a;
}

std::string TypeOf(const FieldDescriptor* f) {
  std::string t;
  if (f->is_map()) {
    return absl::StrCat("map of ", f->message_type()->map_key()->type_name(),
                        " to ", f->message_type()->map_value()->type_name());
  }
  switch (f->type()) {
    case FieldDescriptor::TYPE_MESSAGE:
      t = absl::StrCat("[", f->message_type()->name(), "](#",
                       Anchor(f->message_type()->name()), ")");
      break;
    case FieldDescriptor::TYPE_ENUM: {
      std::vector<std::string> values;
      for (int i = 0; i < f->enum_type()->value_count(); ++i) {
        if (f->enum_type()->value(i)->number() == 0) continue;
        values.push_back(absl::AsciiStrToLower(f->enum_type()->value(i)->name()));
      }
      t = absl::StrCat("one of ", absl::StrJoin(values, ", "));
      break;
    }
    default:
      t = f->type_name();
  }
  return f->is_repeated() ? absl::StrCat("list of ", t) : t;
}

void Emit(const Descriptor* d, std::set<const Descriptor*>* done,
          std::ostream& os) {
  if (!done->insert(d).second) return;
  os << "## " << d->name() << "\n\n";
  if (std::string c = CommentOf(d); !c.empty()) os << c << "\n\n";
  std::set<const google::protobuf::OneofDescriptor*> oneofs;
  for (int i = 0; i < d->oneof_decl_count(); ++i) {
    // proto3 `optional` fields sit in synthetic one-member oneofs: skip them.
    if (d->oneof_decl(i)->is_synthetic()) continue;
    oneofs.insert(d->oneof_decl(i));
  }
  for (const auto* o : oneofs) {
    std::vector<std::string> members;
    for (int i = 0; i < o->field_count(); ++i) {
      members.push_back(absl::StrCat("`", o->field(i)->name(), "`"));
    }
    os << "Set exactly one of " << absl::StrJoin(members, ", ") << ".\n\n";
  }
  os << "| key | type | description |\n| --- | --- | --- |\n";
  std::vector<const Descriptor*> children;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    os << "| `" << f->name() << "` | " << TypeOf(f) << " | " << CommentOf(f)
       << " |\n";
    if (f->type() == FieldDescriptor::TYPE_MESSAGE && !f->is_map()) {
      children.push_back(f->message_type());
    }
  }
  os << "\n";
  for (const Descriptor* c : children) Emit(c, done, os);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: spec_reference DESCRIPTOR_SET\n";
    return 2;
  }
  google::protobuf::FileDescriptorSet set;
  std::ifstream in(argv[1], std::ios::binary);
  if (!in || !set.ParseFromIstream(&in)) {
    std::cerr << "spec_reference: cannot read descriptor set " << argv[1] << "\n";
    return 1;
  }
  google::protobuf::DescriptorPool pool;
  for (const auto& file : set.file()) {
    if (pool.BuildFile(file) == nullptr) {
      std::cerr << "spec_reference: bad file " << file.name() << "\n";
      return 1;
    }
  }
  const Descriptor* root = pool.FindMessageTypeByName("nas.v1.JobSpec");
  if (root == nullptr) {
    std::cerr << "spec_reference: no nas.v1.JobSpec\n";
    return 1;
  }
  std::cout << "# Job-spec reference\n\n"
               "Generated from the comments of `proto/nas/v1/*.proto` by "
               "`tools/spec_reference` (do not edit; regenerate with\n"
               "`bazel run //tools/spec_reference:update`). Keys are the proto "
               "field names; see `docs/job-spec.md` for the file format.\n\n";
  std::set<const Descriptor*> done;
  Emit(root, &done, std::cout);
  return 0;
}
