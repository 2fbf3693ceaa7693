// GGUF v3 writer: header, metadata, tensor infos, then each tensor's bytes padded to the alignment.
// The file is written to PATH.tmp and renamed over PATH only when complete, so a reader never sees half a file.
#include "gguf/writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>
#include <variant>

#include "gguf/byte_cursor.h"
#include "spool/errors.h"

namespace spool::gguf {
namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;  // GGUF's default when general.alignment is absent
constexpr const char* kAlignmentKey = "general.alignment";

bool is_power_of_two(uint64_t a) { return a != 0 && (a & (a - 1)) == 0; }

// Little-endian serialisation into a byte vector (the host is little-endian: see byte_cursor.h).
class ByteSink {
public:
    template <class T>
    void put(T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        bytes_.insert(bytes_.end(), p, p + sizeof(T));
    }
    void put_string(std::string_view s) {
        put<uint64_t>(s.size());
        bytes_.insert(bytes_.end(), s.begin(), s.end());
    }
    void pad_to(uint64_t alignment) {
        while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    }
    const std::vector<uint8_t>& bytes() const noexcept { return bytes_; }

private:
    std::vector<uint8_t> bytes_;
};

void put_value_payload(ByteSink& out, const Value& value, const std::string& key);

void put_array(ByteSink& out, const Array& array, const std::string& key) {
    if (static_cast<size_t>(array.element_type) != array.items.index()) {
        throw UsageError("metadata '" + key + "': array element_type " +
                         std::string(value_type_name(array.element_type)) + " does not match its items (" +
                         std::string(value_type_name(static_cast<ValueType>(array.items.index()))) + ")");
    }
    out.put<uint32_t>(static_cast<uint32_t>(array.element_type));
    out.put<uint64_t>(array.size());
    std::visit(
        [&](const auto& items) {
            using Elem = typename std::decay_t<decltype(items)>::value_type;
            for (const auto& item : items) {
                if constexpr (std::is_same_v<Elem, bool>) {
                    out.put<uint8_t>(item ? 1 : 0);
                } else if constexpr (std::is_same_v<Elem, std::string>) {
                    out.put_string(item);
                } else if constexpr (std::is_same_v<Elem, Value>) {
                    if (!item.is_array()) {
                        throw UsageError("metadata '" + key + "': an array of arrays holds a " +
                                         std::string(value_type_name(item.type())));
                    }
                    put_array(out, std::get<Array>(item.storage()), key);
                } else {
                    out.put<Elem>(item);
                }
            }
        },
        array.items);
}

void put_value_payload(ByteSink& out, const Value& value, const std::string& key) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool>) {
                out.put<uint8_t>(v ? 1 : 0);
            } else if constexpr (std::is_same_v<T, std::string>) {
                out.put_string(v);
            } else if constexpr (std::is_same_v<T, Array>) {
                put_array(out, v, key);
            } else {
                out.put<T>(v);
            }
        },
        value.storage());
}

struct FileCloser {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

[[noreturn]] void throw_io(const char* what, const std::filesystem::path& path, int err) {
    throw SystemError(std::string(what) + " failed for '" + path.string() + "': " + std::strerror(err));
}

void write_all(std::FILE* f, const void* data, size_t n, const std::filesystem::path& path) {
    if (n != 0 && std::fwrite(data, 1, n, f) != n) throw_io("write", path, errno);
}

// Removes PATH.tmp unless the write completed and renamed it.
struct TmpGuard {
    std::filesystem::path path;
    bool keep = false;
    ~TmpGuard() {
        if (!keep) {
            std::error_code ec;
            std::filesystem::remove(path, ec);
        }
    }
};

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(kDefaultAlignment) {
    if (!is_power_of_two(alignment) || alignment > UINT32_MAX) {
        throw UsageError("GGUF alignment must be a power of two that fits uint32, got " + std::to_string(alignment));
    }
    if (alignment != kDefaultAlignment) set(kAlignmentKey, Value(static_cast<uint32_t>(alignment)));
}

void GgufWriter::set(const std::string& key, Value value) {
    if (key == kAlignmentKey) {
        if (value.type() != ValueType::UINT32 || !is_power_of_two(value.as_u64())) {
            throw UsageError("general.alignment must be a uint32 power of two, got " +
                             std::string(value_type_name(value.type())) + " " + value.to_display());
        }
        alignment_ = value.as_u64();
        replan();
    }
    for (auto& [k, v] : metadata_) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne) {
    if (name.empty()) throw UsageError("a GGUF tensor needs a non-empty name");
    for (const PlannedTensor& t : tensors_) {
        if (t.name == name) throw UsageError("duplicate tensor name '" + name + "'");
    }
    if (ne.empty() || ne.size() > 4) {
        throw UsageError("tensor '" + name + "' has " + std::to_string(ne.size()) + " dimensions; GGUF allows 1 to 4");
    }
    const TypeInfo* info = find_type_info(static_cast<uint32_t>(type));
    if (info == nullptr) throw UsageError("tensor '" + name + "': unknown ggml type");
    uint64_t n_elements = 1;
    for (const int64_t d : ne) {
        if (d <= 0) throw UsageError("tensor '" + name + "' has a dimension " + std::to_string(d) + " (must be > 0)");
        if (!checked_mul(n_elements, static_cast<uint64_t>(d), n_elements) || n_elements > INT64_MAX) {
            throw UsageError("tensor '" + name + "': element count overflows");
        }
    }
    if (ne[0] % info->block_size != 0) {
        throw UsageError("tensor '" + name + "': ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " +
                         std::string(info->name) + " block size " + std::to_string(info->block_size));
    }
    uint64_t n_bytes = 0;
    if (!checked_mul(n_elements / static_cast<uint64_t>(info->block_size), info->block_bytes, n_bytes)) {
        throw UsageError("tensor '" + name + "': byte size overflows");
    }
    tensors_.push_back(PlannedTensor{name, type, std::move(ne), n_bytes, 0});
    replan();
}

size_t GgufWriter::n_tensors() const noexcept { return tensors_.size(); }

void GgufWriter::replan() {
    uint64_t offset = 0;
    for (PlannedTensor& t : tensors_) {
        t.offset = offset;
        if (!checked_align_up(offset + t.n_bytes, alignment_, offset)) throw UsageError("GGUF data section overflows");
    }
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
    ByteSink out;
    out.put<uint32_t>(0x46554747u);  // "GGUF" read as a little-endian uint32
    out.put<uint32_t>(kVersion);
    out.put<uint64_t>(tensors_.size());
    out.put<uint64_t>(metadata_.size());
    for (const auto& [key, value] : metadata_) {
        out.put_string(key);
        out.put<uint32_t>(static_cast<uint32_t>(value.type()));
        put_value_payload(out, value, key);
    }
    for (const PlannedTensor& t : tensors_) {
        out.put_string(t.name);
        out.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
        for (const int64_t d : t.ne) out.put<uint64_t>(static_cast<uint64_t>(d));
        out.put<uint32_t>(static_cast<uint32_t>(t.type));
        out.put<uint64_t>(t.offset);
    }
    out.pad_to(alignment_);
    return out.bytes();
}

void GgufWriter::emit(const SinkFn& sink, const FillFn& fill) const {
    const std::vector<uint8_t> header = header_bytes();
    sink(header.data(), header.size());
    uint64_t max_bytes = 0;
    for (const PlannedTensor& t : tensors_) max_bytes = std::max(max_bytes, t.n_bytes);
    std::vector<uint8_t> buffer;  // reused: one tensor at a time, so memory stays at the largest tensor
    buffer.reserve(static_cast<size_t>(max_bytes));
    const std::vector<uint8_t> zeros(static_cast<size_t>(alignment_), 0);
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const PlannedTensor& t = tensors_[i];
        buffer.assign(static_cast<size_t>(t.n_bytes), 0);
        fill(i, buffer.data(), buffer.size());
        sink(buffer.data(), buffer.size());
        // Pad every tensor, the last included, so the file size is a multiple of the alignment.
        sink(zeros.data(), static_cast<size_t>((alignment_ - t.n_bytes % alignment_) % alignment_));
    }
}

void GgufWriter::write_impl(const std::filesystem::path& path, const FillFn& fill) const {
    TmpGuard tmp{std::filesystem::path(path.string() + ".tmp")};
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.path.c_str(), "wb"));
    if (!f) throw_io("open", tmp.path, errno);
    emit([&](const uint8_t* p, size_t n) { write_all(f.get(), p, n, tmp.path); }, fill);
    if (std::fflush(f.get()) != 0) throw_io("write", tmp.path, errno);
    if (::fsync(::fileno(f.get())) != 0) throw_io("fsync", tmp.path, errno);
    if (std::fclose(f.release()) != 0) throw_io("close", tmp.path, errno);
    std::error_code ec;
    std::filesystem::rename(tmp.path, path, ec);
    if (ec) throw SystemError("rename '" + tmp.path.string() + "' to '" + path.string() + "' failed: " + ec.message());
    tmp.keep = true;
}

}  // namespace spool::gguf
