// Replays every file in tests/corpus/gguf (fuzzer regressions, crash-* inputs included) through
// GgufFile::parse: each must parse or throw spool::Error, nothing else.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "gguf/file.h"
#include "spool/errors.h"
#include "test_support.h"

namespace spool::gguf {
namespace {

std::vector<uint8_t> read_all(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(GgufCorpus, EveryFileParsesOrThrowsSpoolError) {
    const std::filesystem::path dir = spool::testing::source_dir() / "tests/corpus/gguf";
    if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no corpus at " << dir;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    size_t parsed = 0, rejected = 0;
    for (const auto& path : files) {
        const std::vector<uint8_t> bytes = read_all(path);
        try {
            const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), path.filename().string());
            for (const auto& [key, value] : f.metadata()) (void)value.to_display();
            ++parsed;
        } catch (const spool::Error&) {
            ++rejected;
        } catch (const std::exception& e) {
            ADD_FAILURE() << path.filename() << ": not a spool::Error: " << e.what();
        }
    }
    std::cout << "corpus: " << files.size() << " files, " << parsed << " parsed, " << rejected << " rejected\n";
    EXPECT_EQ(parsed + rejected, files.size());
}

}  // namespace
}  // namespace spool::gguf
