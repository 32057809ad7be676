// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// CompressingStore: a Store decorator that compresses large opaque values.

#include "sluice/compressing_store.h"

#include "sluice/store_wrapper.h"

#include <string>
#include <utility>
#include <vector>

namespace sluice {
namespace {

constexpr char kMethodRaw = 0;
constexpr char kMethodCompressed = 1;

// Decisions, deletes and the rest pass through StoreWrapper unchanged; only
// the calls that carry opaque values are overridden.
class CompressingStore final : public StoreWrapper {
 public:
  CompressingStore(std::shared_ptr<Store> base, CompressingStoreOptions options)
      : StoreWrapper(std::move(base)), options_(std::move(options)) {}

  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options) override {
    // The function sees plain values and returns plain values. A stored value
    // that does not decode is passed through as an error after the update.
    Status decode_error;
    UpdateFn wrapped = [&](const Record* current) -> Update {
      decode_error = Status::Ok();
      std::optional<Record> plain;
      if (current != nullptr) {
        Result<Record> r = Decode(*current);
        if (!r.ok()) {
          decode_error = r.status();
          return Update::Keep();
        }
        plain = std::move(*r);
      }
      Update update = fn(plain.has_value() ? &*plain : nullptr);
      if (update.action == Update::Action::kPut) {
        if (auto* bytes = std::get_if<std::string>(&update.value)) {
          Result<std::string> stored = Encode(std::move(*bytes));
          if (!stored.ok()) {
            decode_error = stored.status();
            return Update::Keep();
          }
          update.value = std::move(*stored);
        }
      }
      return update;
    };
    Result<std::optional<Record>> result = base().AtomicUpdate(key, wrapped, options);
    SLUICE_RETURN_IF_ERROR(decode_error);
    if (!result.ok() || !result->has_value()) return result;
    SLUICE_ASSIGN_OR_RETURN(Record plain, Decode(std::move(**result)));
    return std::optional<Record>(std::move(plain));
  }

  Result<std::optional<Record>> Get(std::string_view key) override {
    SLUICE_ASSIGN_OR_RETURN(std::optional<Record> stored, base().Get(key));
    if (!stored.has_value()) return stored;
    SLUICE_ASSIGN_OR_RETURN(Record plain, Decode(std::move(*stored)));
    return std::optional<Record>(std::move(plain));
  }

  using Store::Put;
  Status Put(const Record& record) override {
    const auto* bytes = std::get_if<std::string>(&record.value);
    if (bytes == nullptr) return base().Put(record);
    SLUICE_ASSIGN_OR_RETURN(std::string stored, Encode(*bytes));
    return base().Put(Record{record.key, std::move(stored), record.expires_at_ns, record.fencing_token});
  }


  Status Scan(std::string_view prefix, const ScanVisitor& visit) override {
    Status decode_error;
    Status s = base().Scan(prefix, [&](const Record& stored) {
      Result<Record> plain = Decode(stored);
      if (!plain.ok()) {
        decode_error = plain.status();
        return false;
      }
      return visit(*plain);
    });
    SLUICE_RETURN_IF_ERROR(decode_error);
    return s;
  }


 private:
  static std::string Frame(char method, std::string_view name, std::string_view body) {
    std::string out(kCompressedValueMarker);
    out.push_back(method);
    if (method == kMethodCompressed) {
      out.push_back(static_cast<char>(name.size()));
      out.append(name);
    }
    out.append(body);
    return out;
  }

  Result<std::string> Encode(std::string value) const {
    const bool marked = value.compare(0, kCompressedValueMarker.size(), kCompressedValueMarker) == 0;
    if (value.size() >= options_.threshold_bytes) {
      SLUICE_ASSIGN_OR_RETURN(std::string packed, CompressAll(*options_.compression, value));
      const std::string_view name = options_.compression->name();
      if (packed.size() + kCompressedValueMarker.size() + 2 + name.size() < value.size()) {
        return Frame(kMethodCompressed, name, packed);
      }
    }
    if (marked) return Frame(kMethodRaw, "", value);
    return value;
  }

  Result<Record> Decode(Record record) const {
    auto* bytes = std::get_if<std::string>(&record.value);
    if (bytes == nullptr || bytes->compare(0, kCompressedValueMarker.size(), kCompressedValueMarker) != 0) {
      return record;
    }
    std::string_view rest = std::string_view(*bytes).substr(kCompressedValueMarker.size());
    const auto corrupt = [&](std::string_view why) {
      return DataLossError("compressed value of key \"" + record.key + "\": " + std::string(why));
    };
    if (rest.empty()) return corrupt("no method byte");
    const char method = rest[0];
    rest.remove_prefix(1);
    if (method == kMethodRaw) {
      record.value = std::string(rest);
      return record;
    }
    if (method != kMethodCompressed) return corrupt("unknown method " + std::to_string(static_cast<int>(method)));
    if (rest.empty()) return corrupt("no compression name");
    const size_t name_size = static_cast<unsigned char>(rest[0]);
    if (rest.size() < 1 + name_size) return corrupt("truncated compression name");
    const std::string_view name = rest.substr(1, name_size);
    if (name != options_.compression->name()) {
      return corrupt("it was compressed with \"" + std::string(name) + "\", this store reads \"" +
                     std::string(options_.compression->name()) + "\"");
    }
    Result<std::string> plain = DecompressAll(*options_.compression, rest.substr(1 + name_size),
                                              options_.max_value_bytes);
    if (!plain.ok()) {
      if (plain.status().code() == StatusCode::kResourceExhausted) return plain.status();
      return corrupt(plain.status().message());
    }
    record.value = std::move(*plain);
    return record;
  }

  CompressingStoreOptions options_;
};

}  // namespace

Result<std::unique_ptr<Store>> NewCompressingStore(std::shared_ptr<Store> base, CompressingStoreOptions options) {
  if (base == nullptr) return InvalidArgumentError("compressing store: no store to wrap");
  if (options.compression == nullptr) return InvalidArgumentError("compressing store: no compression given");
  if (options.compression->name().empty() || options.compression->name().size() > 255) {
    return InvalidArgumentError("compressing store: a compression's name must be 1 to 255 bytes");
  }
  return std::unique_ptr<Store>(std::make_unique<CompressingStore>(std::move(base), std::move(options)));
}

}  // namespace sluice
