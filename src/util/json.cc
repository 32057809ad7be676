// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "util/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <functional>
#include <optional>
#include <system_error>
#include <unordered_set>

namespace sluice::internal {

const Json* Json::Find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : as_object()) {
    if (k == key) return &v;
  }
  return nullptr;
}

Json& Json::Set(std::string key, Json value) {
  Object& members = as_object();
  for (auto& [k, v] : members) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  members.emplace_back(std::move(key), std::move(value));
  return *this;
}

Json& Json::Append(Json value) {
  as_array().push_back(std::move(value));
  return *this;
}

std::string_view Json::TypeName(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "bool";
    case Type::kInt: return "integer";
    case Type::kDouble: return "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    case Type::kObject: return "object";
  }
  return "unknown";
}

namespace {

std::string Hex2(unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  return {kHex[c >> 4], kHex[c & 0xF]};
}

std::string CodePoint(uint32_t cp) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string digits;
  for (; cp != 0 || digits.size() < 4; cp >>= 4) digits.insert(digits.begin(), kHex[cp & 0xF]);
  return "U+" + digits;
}

// The length of the well-formed UTF-8 sequence (RFC 3629) at the start of
// `s`, or 0 with the reason in `*why`: a byte that cannot start a character,
// a sequence cut short, an overlong encoding, a surrogate or a value beyond
// U+10FFFF. REQUIRES: !s.empty().
size_t Utf8SequenceLength(std::string_view s, std::string* why) {
  const auto c = static_cast<unsigned char>(s[0]);
  if (c < 0x80) return 1;
  size_t len = 0;
  uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07;
  } else {
    // 0x80-0xBF continue a character; 0xC0, 0xC1 and 0xF5-0xFF never occur.
    *why = "byte 0x" + Hex2(c) + " cannot start a character";
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    if (k >= s.size() || (static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) {
      *why = "truncated sequence";
      return 0;
    }
    cp = (cp << 6) | (static_cast<unsigned char>(s[k]) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) {
    *why = "overlong encoding of " + CodePoint(cp);
    return 0;
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) {
    *why = "encoded surrogate " + CodePoint(cp);
    return 0;
  }
  if (cp > 0x10FFFF) {
    *why = CodePoint(cp) + " is beyond U+10FFFF";
    return 0;
  }
  return len;
}

// The names of an object's members seen so far, for the duplicate check. A
// small object is scanned; from kHashFrom members on, a hash set of member
// indices (which, unlike pointers to the names, survive the vector growing)
// keeps the check O(1) per member, so a large object costs O(n), not O(n^2).
class MemberNames {
 public:
  // Checks the last member of `members` against the ones before it. Returns
  // false if its name is a duplicate.
  bool Insert(const Json::Object& members) {
    const size_t last = members.size() - 1;
    if (members.size() <= kHashFrom) {
      for (size_t i = 0; i < last; ++i) {
        if (members[i].first == members[last].first) return false;
      }
      if (members.size() == kHashFrom) {
        set_.emplace(0, Hash{&members}, Equal{&members});
        set_->reserve(2 * kHashFrom);
        for (size_t i = 0; i <= last; ++i) set_->insert(i);
      }
      return true;
    }
    return set_->insert(last).second;
  }

 private:
  static constexpr size_t kHashFrom = 16;
  // Both read the names through `members`, which may reallocate between calls.
  struct Hash {
    const Json::Object* members;
    size_t operator()(size_t i) const { return std::hash<std::string>()((*members)[i].first); }
  };
  struct Equal {
    const Json::Object* members;
    bool operator()(size_t a, size_t b) const { return (*members)[a].first == (*members)[b].first; }
  };
  std::optional<std::unordered_set<size_t, Hash, Equal>> set_;
};

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  Result<Json> ParseDocument() {
    SkipWhitespace();
    Json value;
    SLUICE_RETURN_IF_ERROR(ParseValue(&value, 0));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("unexpected data after the JSON value");
    return value;
  }

 private:
  Status Error(std::string_view reason) const { return ErrorAt(pos_, reason); }
  static Status ErrorAt(size_t offset, std::string_view reason) {
    return InvalidArgumentError("JSON parse error at byte " + std::to_string(offset) + ": " +
                                std::string(reason));
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) ++pos_;
  }

  bool ConsumeLiteral(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status ParseValue(Json* out, int depth) {
    if (AtEnd()) return Error("unexpected end of input, expected a value");
    char c = Peek();
    switch (c) {
      case '{': return ParseObject(out, depth + 1);
      case '[': return ParseArray(out, depth + 1);
      case '"': {
        std::string s;
        SLUICE_RETURN_IF_ERROR(ParseString(&s));
        *out = Json::String(std::move(s));
        return Status::Ok();
      }
      case 't':
        if (ConsumeLiteral("true")) return (*out = Json::Bool(true), Status::Ok());
        break;
      case 'f':
        if (ConsumeLiteral("false")) return (*out = Json::Bool(false), Status::Ok());
        break;
      case 'n':
        if (ConsumeLiteral("null")) return (*out = Json::Null(), Status::Ok());
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    }
    return Error("invalid value");
  }

  Status ParseObject(Json* out, int depth) {
    if (depth > max_depth_) return Error("nesting deeper than " + std::to_string(max_depth_) + " levels");
    ++pos_;  // '{'
    Json::Object members;
    MemberNames names;
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = Json::MakeObject(std::move(members));
      return Status::Ok();
    }
    while (true) {
      SkipWhitespace();
      if (AtEnd() || Peek() != '"') return Error("expected a string key in object");
      size_t key_offset = pos_;
      std::string key;
      SLUICE_RETURN_IF_ERROR(ParseString(&key));
      members.emplace_back(std::move(key), Json());
      if (!names.Insert(members)) {
        return ErrorAt(key_offset, "duplicate key \"" + members.back().first + "\"");
      }
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return Error("expected ':' after object key");
      ++pos_;
      SkipWhitespace();
      // Nested values have their own member lists, so members.back() stays put.
      SLUICE_RETURN_IF_ERROR(ParseValue(&members.back().second, depth));
      SkipWhitespace();
      if (AtEnd()) return Error("unexpected end of input in object");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        *out = Json::MakeObject(std::move(members));
        return Status::Ok();
      }
      return Error("expected ',' or '}' in object");
    }
  }

  Status ParseArray(Json* out, int depth) {
    if (depth > max_depth_) return Error("nesting deeper than " + std::to_string(max_depth_) + " levels");
    ++pos_;  // '['
    Json::Array elements;
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = Json::MakeArray(std::move(elements));
      return Status::Ok();
    }
    while (true) {
      SkipWhitespace();
      Json value;
      SLUICE_RETURN_IF_ERROR(ParseValue(&value, depth));
      elements.push_back(std::move(value));
      SkipWhitespace();
      if (AtEnd()) return Error("unexpected end of input in array");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        *out = Json::MakeArray(std::move(elements));
        return Status::Ok();
      }
      return Error("expected ',' or ']' in array");
    }
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  Status ParseNumber(Json* out) {
    size_t start = pos_;
    bool integer = true;
    if (Peek() == '-') ++pos_;
    if (AtEnd() || !IsDigit(Peek())) return Error("expected a digit");
    if (Peek() == '0') {
      ++pos_;
      if (!AtEnd() && IsDigit(Peek())) return Error("leading zeros are not allowed");
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && Peek() == '.') {
      integer = false;
      ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Error("expected a digit after '.'");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      integer = false;
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Error("expected a digit in exponent");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integer) {
      int64_t value = 0;
      auto [ptr, ec] = std::from_chars(first, last, value);
      if (ec == std::errc::result_out_of_range) return ErrorAt(start, "integer out of int64 range");
      if (ec != std::errc() || ptr != last) return ErrorAt(start, "invalid integer");
      *out = Json::Int(value);
      return Status::Ok();
    }
    double value = 0;
    auto [ptr, ec] = std::from_chars(first, last, value);
    // Strict: a literal too large (or too small) for a double is rejected, not rounded.
    if (ec == std::errc::result_out_of_range) return ErrorAt(start, "number out of double range");
    if (ec != std::errc() || ptr != last) {
      return ErrorAt(start, "invalid number");
    }
    *out = Json::Double(value);
    return Status::Ok();
  }

  // Reads 4 hex digits at pos_.
  bool ParseHex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (c < 0x20) return Error("control character in string must be escaped");
      if (c >= 0x80) {
        std::string why;
        const size_t len = Utf8SequenceLength(text_.substr(pos_), &why);
        if (len == 0) return Error("invalid UTF-8 in string: " + why);
        out->append(text_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      size_t escape_offset = pos_;
      ++pos_;
      if (AtEnd()) return Error("unterminated string");
      char e = text_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!ParseHex4(&cp)) return ErrorAt(escape_offset, "invalid \\u escape");
          if (cp >= 0xDC00 && cp <= 0xDFFF) return ErrorAt(escape_offset, "unpaired low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (!ConsumeLiteral("\\u") || !ParseHex4(&low) || low < 0xDC00 || low > 0xDFFF) {
              return ErrorAt(escape_offset, "high surrogate not followed by a low surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return ErrorAt(escape_offset, "invalid escape");
      }
    }
  }

  std::string_view text_;
  int max_depth_;
  size_t pos_ = 0;
};

bool IsScalar(const Json& v) { return !v.is_array() && !v.is_object(); }

void AppendDouble(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view s(buf, static_cast<size_t>(ptr - buf));
  out->append(s);
  // Keep it a double when read back.
  if (s.find_first_of(".eE") == std::string_view::npos) out->append(".0");
}

void Indent(int level, std::string* out) { out->append(static_cast<size_t>(level) * 2, ' '); }

void Write(const Json& v, bool pretty, int level, std::string* out) {
  switch (v.type()) {
    case Json::Type::kNull: out->append("null"); return;
    case Json::Type::kBool: out->append(v.as_bool() ? "true" : "false"); return;
    case Json::Type::kInt: AppendJsonInt(v.as_int(), out); return;
    case Json::Type::kDouble: AppendDouble(v.as_double(), out); return;
    case Json::Type::kString: AppendJsonString(v.as_string(), out); return;
    case Json::Type::kArray: {
      const Json::Array& a = v.as_array();
      bool inline_array = !pretty || a.empty() || std::all_of(a.begin(), a.end(), IsScalar);
      out->push_back('[');
      for (size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out->append(pretty && inline_array ? ", " : ",");
        if (!inline_array) {
          out->push_back('\n');
          Indent(level + 1, out);
        }
        Write(a[i], pretty, level + 1, out);
      }
      if (!inline_array) {
        out->push_back('\n');
        Indent(level, out);
      }
      out->push_back(']');
      return;
    }
    case Json::Type::kObject: {
      const Json::Object& o = v.as_object();
      out->push_back('{');
      for (size_t i = 0; i < o.size(); ++i) {
        if (i > 0) out->push_back(',');
        if (pretty) {
          out->push_back('\n');
          Indent(level + 1, out);
        }
        AppendJsonString(o[i].first, out);
        out->append(pretty ? ": " : ":");
        Write(o[i].second, pretty, level + 1, out);
      }
      if (pretty && !o.empty()) {
        out->push_back('\n');
        Indent(level, out);
      }
      out->push_back('}');
      return;
    }
  }
}

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Result<Json> ParseJson(std::string_view text, int max_depth) { return Parser(text, max_depth).ParseDocument(); }

std::string WriteJson(const Json& value, bool pretty) {
  std::string out;
  Write(value, pretty, 0, &out);
  return out;
}

void AppendJsonInt(int64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

bool IsValidUtf8(std::string_view s) {
  std::string why;
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(s.substr(i), &why);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                 uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out.push_back(kBase64Alphabet[(v >> 18) & 63]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(kBase64Alphabet[(v >> 6) & 63]);
    out.push_back(kBase64Alphabet[v & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out.push_back(kBase64Alphabet[(v >> 18) & 63]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int d = k < 4 - static_cast<size_t>(pad) ? Base64Value(text[i + k]) : 0;
      if (d < 0) return std::nullopt;
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    // Unused bits must be zero, so that each byte string has one encoding.
    if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) return std::nullopt;
    out.push_back(static_cast<char>((v >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xFF));
  }
  return out;
}

Result<JsonObjectReader> JsonObjectReader::Create(const Json& value, std::string path) {
  if (!value.is_object()) {
    return InvalidArgumentError(path + ": expected an object, got " + std::string(Json::TypeName(value.type())));
  }
  return JsonObjectReader(&value.as_object(), std::move(path));
}

std::string JsonObjectReader::FieldPath(std::string_view name) const { return path_ + "." + std::string(name); }

Status JsonObjectReader::FieldError(std::string_view name, std::string_view what) const {
  return InvalidArgumentError(FieldPath(name) + ": " + std::string(what));
}

Status JsonObjectReader::TypeError(std::string_view name, std::string_view expected, const Json& got) const {
  std::string what = "expected " + std::string(expected) + ", got " + std::string(Json::TypeName(got.type()));
  if (got.is_double() && expected == "an integer") what += " with a fraction or exponent";
  return FieldError(name, what);
}

const Json* JsonObjectReader::Get(std::string_view name) {
  for (size_t i = 0; i < object_->size(); ++i) {
    if ((*object_)[i].first == name) {
      read_[i] = true;
      return &(*object_)[i].second;
    }
  }
  return nullptr;
}

Result<const Json*> JsonObjectReader::GetRequired(std::string_view name) {
  const Json* v = Get(name);
  if (v == nullptr) return FieldError(name, "required field is missing");
  return v;
}

Result<int64_t> JsonObjectReader::GetInt(std::string_view name) {
  SLUICE_ASSIGN_OR_RETURN(const Json* v, GetRequired(name));
  if (!v->is_int()) return TypeError(name, "an integer", *v);
  return v->as_int();
}

Result<std::string> JsonObjectReader::GetString(std::string_view name) {
  SLUICE_ASSIGN_OR_RETURN(const Json* v, GetRequired(name));
  if (!v->is_string()) return TypeError(name, "a string", *v);
  return v->as_string();
}

Result<const Json*> JsonObjectReader::GetObject(std::string_view name) {
  SLUICE_ASSIGN_OR_RETURN(const Json* v, GetRequired(name));
  if (!v->is_object()) return TypeError(name, "an object", *v);
  return v;
}

Result<const Json*> JsonObjectReader::GetArray(std::string_view name) {
  SLUICE_ASSIGN_OR_RETURN(const Json* v, GetRequired(name));
  if (!v->is_array()) return TypeError(name, "an array", *v);
  return v;
}

Result<std::optional<int64_t>> JsonObjectReader::GetOptionalInt(std::string_view name) {
  const Json* v = Get(name);
  if (v == nullptr) return std::optional<int64_t>();
  if (!v->is_int()) return TypeError(name, "an integer", *v);
  return std::optional<int64_t>(v->as_int());
}

Result<std::optional<std::string>> JsonObjectReader::GetOptionalString(std::string_view name) {
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string_view> v, GetOptionalStringView(name));
  if (!v) return std::optional<std::string>();
  return std::optional<std::string>(std::string(*v));
}

Result<std::optional<std::string_view>> JsonObjectReader::GetOptionalStringView(std::string_view name) {
  const Json* v = Get(name);
  if (v == nullptr) return std::optional<std::string_view>();
  if (!v->is_string()) return TypeError(name, "a string", *v);
  return std::optional<std::string_view>(v->as_string());
}

Status JsonObjectReader::CheckNoUnknownFields() const {
  for (size_t i = 0; i < object_->size(); ++i) {
    if (!read_[i]) return FieldError((*object_)[i].first, "unknown field");
  }
  return Status::Ok();
}

}  // namespace sluice::internal
