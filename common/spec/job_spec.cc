// Parsing and the all-in-one checks of job_spec.h. Defaults, validation and
// the summary live in defaults.cc, validate.cc and summary.cc.
#include "common/spec/job_spec.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/spec/yaml_proto.h"

namespace nas::spec {
namespace {

namespace fs = std::filesystem;

// Repeated fields whose explicitly empty list is an error, not the default.
constexpr const char* kNonEmptyIfGiven[] = {"search_space.darts.ops",
                                            "search_space.nb201.ops"};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  return contents.str();
}

// `path` resolved against `base_dir` unless it is absolute (or either is
// empty).
void ResolvePath(absl::string_view base_dir, std::string* path) {
  if (base_dir.empty() || path->empty() || (*path)[0] == '/') return;
  *path = (fs::path(std::string(base_dir)) / *path).lexically_normal().string();
}

// The absolute directory holding the file at `path`.
std::string DirectoryOf(const std::string& path) {
  std::error_code error;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = fs::current_path(error);
  fs::path absolute = fs::absolute(dir, error);
  return error ? dir.string() : absolute.lexically_normal().string();
}

// True when `descendant` is `ancestor` or a field below it.
bool IsAtOrBelow(const std::string& ancestor, const std::string& descendant) {
  if (!absl::StartsWith(descendant, ancestor)) return false;
  if (descendant.size() == ancestor.size() || ancestor.empty()) return true;
  const char next = descendant[ancestor.size()];
  return next == '.' || next == '[';
}

}  // namespace

std::vector<FieldError> ParseJobSpecInto(absl::string_view text,
                                         absl::string_view base_dir,
                                         nas::v1::JobSpec* spec) {
  YamlToProtoResult result = ParseYamlIntoProto(text, spec);
  for (const char* path : kNonEmptyIfGiven) {
    if (result.empty_lists.count(path) > 0) {
      result.errors.push_back(
          FieldError{path, "must not be empty; omit it for the default ops"});
    }
  }
  if (spec->evaluation().has_table()) {
    ResolvePath(base_dir,
                spec->mutable_evaluation()->mutable_table()->mutable_path());
  }
  if (spec->evaluation().has_train()) {
    ResolvePath(
        base_dir,
        spec->mutable_evaluation()->mutable_train()->mutable_data_dir());
  }
  return std::move(result.errors);
}

absl::StatusOr<nas::v1::JobSpec> ParseJobSpec(absl::string_view text,
                                              absl::string_view base_dir) {
  nas::v1::JobSpec spec;
  const absl::Status status =
      FieldErrorsToStatus(ParseJobSpecInto(text, base_dir, &spec));
  if (!status.ok()) return status;
  return spec;
}

absl::StatusOr<nas::v1::JobSpec> LoadJobSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseJobSpec(*text, DirectoryOf(path));
}

CheckedJobSpec CheckJobSpecText(absl::string_view text,
                                absl::string_view base_dir) {
  CheckedJobSpec checked;
  checked.errors = ParseJobSpecInto(text, base_dir, &checked.spec);
  for (const FieldError& error : checked.errors) {
    // The document as a whole did not parse: nothing to validate.
    if (error.path.empty()) return checked;
  }
  ApplyDefaults(&checked.spec);
  const size_t parse_errors = checked.errors.size();
  for (FieldError& error : ValidateJobSpec(checked.spec)) {
    bool reported = false;
    for (size_t i = 0; i < parse_errors && !reported; ++i) {
      const std::string& parsed = checked.errors[i].path;
      reported =
          IsAtOrBelow(parsed, error.path) || IsAtOrBelow(error.path, parsed);
    }
    if (!reported) checked.errors.push_back(std::move(error));
  }
  return checked;
}

CheckedJobSpec CheckJobSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    CheckedJobSpec checked;
    checked.errors.push_back(
        FieldError{"", std::string(text.status().message())});
    return checked;
  }
  return CheckJobSpecText(*text, DirectoryOf(path));
}

}  // namespace nas::spec
