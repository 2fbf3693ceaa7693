// Progress: the line format (bar, percent, amounts, ETA) and silence when stderr is not a terminal.
#include "core/progress.h"

#include <gtest/gtest.h>

namespace spool {
namespace {

TEST(Progress, FormatsDurations) {
    EXPECT_EQ(Progress::format_duration(0), "0s");
    EXPECT_EQ(Progress::format_duration(7.4), "7s");
    EXPECT_EQ(Progress::format_duration(185), "3m05s");
    EXPECT_EQ(Progress::format_duration(7440), "2h04m");
    EXPECT_EQ(Progress::format_duration(-1), "?");
}

TEST(Progress, LineShowsPercentAmountsAndEta) {
    // Half done after 10 s: 10 s left.
    const std::string half = Progress::format_line("quantize", 50, 100, Progress::Unit::count, 10.0, 80);
    EXPECT_NE(half.find(" 50%"), std::string::npos) << half;
    EXPECT_NE(half.find("50/100"), std::string::npos) << half;
    EXPECT_NE(half.find("ETA 10s"), std::string::npos) << half;
    EXPECT_EQ(half.rfind("quantize [", 0), 0u) << half;
    EXPECT_LE(half.size(), 80u) << half;

    const std::string bytes =
        Progress::format_line("synth", 512ull << 20, 2ull << 30, Progress::Unit::bytes, 3.0, 80);
    EXPECT_NE(bytes.find("0.5/2.0 GiB"), std::string::npos) << bytes;

    const std::string done = Progress::format_line("synth", 100, 100, Progress::Unit::count, 65.0, 80);
    EXPECT_NE(done.find("100%"), std::string::npos) << done;
    EXPECT_NE(done.find("1m05s"), std::string::npos) << done;
    EXPECT_EQ(done.find('>'), std::string::npos) << "a full bar has no head: " << done;

    const std::string start = Progress::format_line("synth", 0, 100, Progress::Unit::count, 0.0, 80);
    EXPECT_NE(start.find("ETA ?"), std::string::npos) << start;
}

TEST(Progress, BarFitsNarrowAndWideTerminals) {
    for (int width : {40, 80, 200}) {
        const std::string line = Progress::format_line("q", 1, 3, Progress::Unit::count, 1.0, width);
        const size_t open = line.find('['), close = line.find(']');
        ASSERT_NE(open, std::string::npos);
        ASSERT_NE(close, std::string::npos);
        const size_t cells = close - open - 1;
        EXPECT_GE(cells, 10u);
        EXPECT_LE(cells, 40u);
        EXPECT_EQ(line.substr(open + 1, cells).find_first_not_of("=> "), std::string::npos) << line;
    }
}

TEST(Progress, DisabledOrNotATerminalIsSilent) {
    Progress off("x", 10, Progress::Unit::count, false);
    EXPECT_FALSE(off.active());
    off.add(5);
    off.finish();
    // Under ctest stderr is a pipe, so even an enabled bar stays quiet there.
    if (!Progress::stderr_is_terminal()) {
        Progress on("x", 10);
        EXPECT_FALSE(on.active());
    }
}

}  // namespace
}  // namespace spool
