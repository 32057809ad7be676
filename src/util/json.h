// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A small, strict JSON value type with a parser and a writer, private to the
// library (the core depends on the standard library only). It serves the state
// codecs and TokenBucket::ToJson/FromJson.
//
// The parser is strict RFC 8259. Numbers keep their literal's form: a literal
// without fraction or exponent is an exact int64 (one outside the int64 range
// is an error, never rounded); any other number is a double. Objects keep their
// members in insertion order, so writing is deterministic; duplicate keys are a
// parse error (found in time linear in the number of members).
//
// Strings hold UTF-8. The parser decodes escapes (including \uXXXX and
// surrogate pairs, to UTF-8) and rejects a \u escape of a lone surrogate; other
// bytes must form well-formed UTF-8 (RFC 3629: no overlong forms, no encoded
// surrogates, nothing beyond U+10FFFF), or the parse fails at the offending
// byte. The writer escapes '"', '\\' and control characters and copies other
// bytes as they are, so Parse(Write(v)) == v when every string in `v` is valid
// UTF-8 (see IsValidUtf8); callers with arbitrary bytes use Base64 (as the
// record codec does for keys).
//
// Thread-safety: values have the thread-safety of std::vector; the functions
// are pure.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(Json doc, ParseJson(text));
//   const Json* limit = doc.Find("limit");
//   if (limit == nullptr || !limit->is_int()) return InvalidArgumentError("limit");
//   std::string out = WriteJson(doc, /*pretty=*/true);

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sluice/result.h"
#include "sluice/status.h"

namespace sluice::internal {

class Json {
 public:
  enum class Type : uint8_t { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  static Json Null() { return Json(); }
  static Json Bool(bool b) { return Json(Rep(b)); }
  static Json Int(int64_t i) { return Json(Rep(i)); }
  static Json Double(double d) { return Json(Rep(d)); }
  static Json String(std::string s) { return Json(Rep(std::move(s))); }
  static Json MakeArray(Array a = {}) { return Json(Rep(std::move(a))); }
  static Json MakeObject(Object o = {}) { return Json(Rep(std::move(o))); }

  Type type() const { return static_cast<Type>(rep_.index()); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_double() const { return type() == Type::kDouble; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  // REQUIRES: the matching type (std::get throws otherwise; callers check first).
  bool as_bool() const { return std::get<bool>(rep_); }
  int64_t as_int() const { return std::get<int64_t>(rep_); }
  double as_double() const { return std::get<double>(rep_); }
  // An int or a double as a double (ints beyond 2^53 lose precision).
  double as_number() const { return is_int() ? static_cast<double>(as_int()) : as_double(); }
  const std::string& as_string() const { return std::get<std::string>(rep_); }
  const Array& as_array() const { return std::get<Array>(rep_); }
  Array& as_array() { return std::get<Array>(rep_); }
  const Object& as_object() const { return std::get<Object>(rep_); }
  Object& as_object() { return std::get<Object>(rep_); }

  // The member named `key` of an object, or nullptr (also for non-objects).
  const Json* Find(std::string_view key) const;
  // Sets member `key` of an object: replaces an existing one in place, or
  // appends. REQUIRES: is_object(). Returns *this for chaining.
  Json& Set(std::string key, Json value);
  // Appends to an array. REQUIRES: is_array(). Returns *this for chaining.
  Json& Append(Json value);

  // "null", "bool", "integer", "number", "string", "array", "object".
  static std::string_view TypeName(Type type);

  friend bool operator==(const Json&, const Json&) = default;

 private:
  using Rep = std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object>;
  explicit Json(Rep rep) : rep_(std::move(rep)) {}
  Rep rep_;
};

inline constexpr int kJsonMaxDepth = 64;

// Parses exactly one JSON value (surrounding whitespace allowed). Errors are
// kInvalidArgument: "JSON parse error at byte <offset>: <reason>".
// Nesting deeper than `max_depth` arrays/objects is an error.
Result<Json> ParseJson(std::string_view text, int max_depth = kJsonMaxDepth);

// Writes `value` compactly, or with 2-space indentation and "key": value when
// `pretty` (arrays holding only scalars stay on one line). Doubles are written
// in the shortest form that reads back exactly, always with a '.' or exponent
// so they read back as doubles; NaN and infinities become null.
std::string WriteJson(const Json& value, bool pretty = false);

// Appends `s` as a quoted, escaped JSON string.
void AppendJsonString(std::string_view s, std::string* out);
// Appends `v` in decimal, as WriteJson writes an int.
void AppendJsonInt(int64_t v, std::string* out);

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or values > U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Standard Base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);
// Strict: rejects characters outside the alphabet, missing or extra padding
// and non-zero unused bits, so each byte string has exactly one encoding.
std::optional<std::string> Base64Decode(std::string_view text);

// Reads an object's members with messages that name the field's path
// ("record.state.tokens: expected an integer, got number"). Every Get* marks the
// member as read; CheckNoUnknownFields() then rejects members nobody read.
// All errors are kInvalidArgument. The object must outlive the reader.
class JsonObjectReader {
 public:
  // kInvalidArgument if `value` is not an object.
  static Result<JsonObjectReader> Create(const Json& value, std::string path);

  const std::string& path() const { return path_; }
  // "<path>.<name>".
  std::string FieldPath(std::string_view name) const;

  // The member, or nullptr if absent; marks it read.
  const Json* Get(std::string_view name);
  // The member, or kInvalidArgument "<path>.<name>: required field is missing".
  Result<const Json*> GetRequired(std::string_view name);
  // Required members of one type. Int rejects numbers with a fraction or exponent.
  Result<int64_t> GetInt(std::string_view name);
  Result<std::string> GetString(std::string_view name);
  Result<const Json*> GetObject(std::string_view name);
  Result<const Json*> GetArray(std::string_view name);
  // Optional members: nullopt when absent; a wrong type is still an error.
  Result<std::optional<int64_t>> GetOptionalInt(std::string_view name);
  Result<std::optional<std::string>> GetOptionalString(std::string_view name);
  // As GetOptionalString, viewing the string inside the parsed value.
  Result<std::optional<std::string_view>> GetOptionalStringView(std::string_view name);

  // kInvalidArgument naming the first member no Get* asked for.
  Status CheckNoUnknownFields() const;

  // "<path>.<name>: <what>" as kInvalidArgument.
  Status FieldError(std::string_view name, std::string_view what) const;

 private:
  JsonObjectReader(const Json::Object* object, std::string path)
      : object_(object), path_(std::move(path)), read_(object->size(), false) {}
  Status TypeError(std::string_view name, std::string_view expected, const Json& got) const;

  const Json::Object* object_;
  std::string path_;
  std::vector<bool> read_;
};

}  // namespace sluice::internal
