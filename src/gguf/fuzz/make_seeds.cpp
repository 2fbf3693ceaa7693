// Writes small valid GGUF files (every value type, nested arrays, every tensor type, alignments, a vocab)
// as seeds for gguf_fuzz. Usage: make_seeds DIR. Built and run by scripts/fuzz_gguf.sh.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gguf/writer.h"

namespace {

using namespace spool;
using namespace spool::gguf;

template <class T>
Value array_of(ValueType type, std::vector<T> items) {
    Array a;
    a.element_type = type;
    a.items = std::move(items);
    return Value(std::move(a));
}

Value nested(uint32_t depth) {
    Value v = array_of(ValueType::INT16, std::vector<int16_t>{-1, 2});
    for (uint32_t d = 1; d < depth; ++d) {
        Array outer;
        outer.element_type = ValueType::ARRAY;
        outer.items = std::vector<Value>{v, array_of(ValueType::STRING, std::vector<std::string>{"x"})};
        v = Value(std::move(outer));
    }
    return v;
}

void fill(size_t tensor, uint8_t* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(tensor * 31 + i * 7 + 3);
}

void save(const std::filesystem::path& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    std::printf("%s: %zu bytes\n", name.c_str(), bytes.size());
}

GgufWriter every_value_type() {
    GgufWriter w;
    w.set("general.architecture", Value("llama"));
    w.set("u8", Value(uint8_t{1}));
    w.set("i8", Value(int8_t{-1}));
    w.set("u16", Value(uint16_t{2}));
    w.set("i16", Value(int16_t{-2}));
    w.set("u32", Value(uint32_t{3}));
    w.set("i32", Value(int32_t{-3}));
    w.set("f32", Value(0.5f));
    w.set("bool", Value(true));
    w.set("str", Value("a\nb"));
    w.set("u64", Value(uint64_t{4}));
    w.set("i64", Value(int64_t{-4}));
    w.set("f64", Value(0.25));
    w.set("a.u8", array_of(ValueType::UINT8, std::vector<uint8_t>{1, 2}));
    w.set("a.f64", array_of(ValueType::FLOAT64, std::vector<double>{1.5}));
    w.set("a.bool", array_of(ValueType::BOOL, std::vector<bool>{true, false}));
    w.set("a.str", array_of(ValueType::STRING, std::vector<std::string>{"p", ""}));
    w.set("a.nested", nested(3));
    return w;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);

    save(dir, "values.gguf", every_value_type().to_bytes(fill));

    GgufWriter model = every_value_type();
    model.add_tensor("a", GgmlType::F32, {3, 2});
    model.add_tensor("b", GgmlType::Q4_0, {32, 2});
    model.add_tensor("c", GgmlType::F16, {2, 1, 3, 1});
    save(dir, "model.gguf", model.to_bytes(fill));

    // Every tensor type, one block each, a few per file to stay under the fuzzer's max_len.
    const auto types = all_type_infos();
    for (size_t first = 0; first < types.size(); first += 6) {
        GgufWriter w(first % 12 == 0 ? 32 : 8);
        for (size_t i = first; i < types.size() && i < first + 6; ++i) {
            w.add_tensor(std::string(types[i].name), types[i].type, {types[i].block_size});
        }
        save(dir, "types" + std::to_string(first / 6) + ".gguf", w.to_bytes(fill));
    }

    GgufWriter vocab;
    vocab.set("tokenizer.ggml.model", Value("gpt2"));
    vocab.set("tokenizer.ggml.tokens", array_of(ValueType::STRING, std::vector<std::string>{"<s>", "a", "b", "ab"}));
    vocab.set("tokenizer.ggml.scores", array_of(ValueType::FLOAT32, std::vector<float>{0, -1, -2, -3}));
    vocab.set("tokenizer.ggml.token_type", array_of(ValueType::INT32, std::vector<int32_t>{3, 1, 1, 1}));
    vocab.set("tokenizer.ggml.merges", array_of(ValueType::STRING, std::vector<std::string>{"a b"}));
    save(dir, "vocab.gguf", vocab.to_bytes(fill));

    GgufWriter aligned(1);
    aligned.set("split.no", Value(uint16_t{0}));
    aligned.set("split.count", Value(uint16_t{1}));
    aligned.add_tensor("x", GgmlType::I8, {3});
    aligned.add_tensor("y", GgmlType::Q8_0, {32});
    save(dir, "align1.gguf", aligned.to_bytes(fill));

    std::vector<uint8_t> v2 = model.to_bytes(fill);
    v2[4] = 2;  // version 2 shares v3's layout
    save(dir, "model_v2.gguf", v2);
    return 0;
}
