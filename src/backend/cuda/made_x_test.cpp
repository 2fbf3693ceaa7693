// MadeX on the host (no GPU): a made x~ is given for its x alone and only at one token, a producer's next x~ goes to
// the other buffer, a matvec keeps it unless its output overlaps x, and a DeferredNorm's x~ is given only to readers
// that pass the norm, the first of which takes the norm's output; finish_norm runs a norm no reader has written, once.
#include "backend/cuda/made_x.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>

namespace spool::cuda {
namespace {

class MadeXTest : public ::testing::Test {
protected:
    // Whether the x~ made of `made` (at made_int8) is still given after a matvec launch that writes `written` (the
    // launch forgets everything, as the backend's issue() does).
    bool kept_after(std::initializer_list<MadeX::Written> written, const float* made, const void* made_int8) {
        int launches = 0;
        made_.keep_across(written.begin(), static_cast<int>(written.size()), [&] {
            ++launches;
            made_.forget();
        });
        EXPECT_EQ(launches, 1);
        return made_.x_int8(made, kN, 1, true) == made_int8;
    }
    bool kept_after(std::initializer_list<MadeX::Written> written) { return kept_after(written, x(), x_int8(0)); }

    // Makes a DeferredNorm of residual_ into normed_, with its x~ in buffer 1.
    void remember_deferred() {
        made_.remember_deferred(DeferredNorm{residual_, weight_, 1e-5f, normed_}, kN, x_int8(1));
    }

    static constexpr int64_t kN = 16;
    float* x() { return activations_ + kN; }  // between two other tensors of kN floats
    const void* x_int8(int i) const { return x_int8_[i]; }

    MadeX made_;
    float activations_[3 * kN] = {};
    float residual_[kN] = {};
    float weight_[kN] = {};
    float normed_[kN] = {};
    unsigned char x_int8_[2][deferred_norm_x_bytes(kN)] = {};
};

TEST_F(MadeXTest, NothingIsMadeAtFirst) {
    EXPECT_EQ(made_.x_int8(x(), kN, 1), nullptr);
    EXPECT_EQ(made_.x_int8(x(), kN, 1, true), nullptr);
    const MadeX::Read read = made_.read(x(), kN, 1);
    EXPECT_EQ(read.x_int8, nullptr);
    EXPECT_EQ(read.norm(), nullptr);
    EXPECT_EQ(made_.free_buffer(x_int8(0)), 0);
    EXPECT_EQ(made_.free_buffer(nullptr), 0);  // no buffer allocated yet
}

TEST_F(MadeXTest, AProducersXTildeIsGivenForItsXAtOneTokenOnly) {
    made_.remember(x(), kN, x_int8(0));
    EXPECT_EQ(made_.x_int8(x(), kN, 1), x_int8(0));
    EXPECT_EQ(made_.x_int8(x(), kN, 1, true), x_int8(0));
    EXPECT_EQ(made_.x_int8(activations_, kN, 1), nullptr);  // another tensor
    EXPECT_EQ(made_.x_int8(x() + 8, 8, 1), nullptr);        // a part of x
    EXPECT_EQ(made_.x_int8(x(), kN - 8, 1), nullptr);       // another length
    EXPECT_EQ(made_.x_int8(x(), kN, 2), nullptr);           // x~ holds one token
    const MadeX::Read read = made_.read(x(), kN, 1);
    EXPECT_EQ(read.x_int8, x_int8(0));
    EXPECT_EQ(read.norm(), nullptr);
    EXPECT_EQ(made_.x_int8(x(), kN, 1), x_int8(0));  // reading keeps it
}

TEST_F(MadeXTest, ForgetDropsTheMadeXTilde) {
    made_.remember(x(), kN, x_int8(0));
    made_.forget();
    EXPECT_EQ(made_.x_int8(x(), kN, 1), nullptr);
    EXPECT_EQ(made_.free_buffer(x_int8(0)), 0);
}

TEST_F(MadeXTest, AProducerWritesTheBufferTheMadeXTildeIsNotIn) {
    made_.remember(x(), kN, x_int8(0));
    EXPECT_EQ(made_.free_buffer(x_int8(0)), 1);
    made_.remember(x(), kN, x_int8(1));
    EXPECT_EQ(made_.free_buffer(x_int8(0)), 0);
    remember_deferred();
    EXPECT_EQ(made_.free_buffer(x_int8(0)), 0);
}

TEST_F(MadeXTest, AMatvecKeepsItUnlessItsOutputOverlapsX) {
    made_.remember(x(), kN, x_int8(0));
    EXPECT_TRUE(kept_after({{activations_, kN}}));  // ends where x begins
    EXPECT_TRUE(kept_after({{x() + kN, kN}}));      // begins where x ends
    EXPECT_TRUE(kept_after({{residual_, kN}, {normed_, kN}}));
    EXPECT_FALSE(kept_after({{activations_ + 1, kN}}));  // its last float is x's first
    made_.remember(x(), kN, x_int8(0));
    EXPECT_FALSE(kept_after({{x() + kN - 1, kN}}));  // its first float is x's last
    made_.remember(x(), kN, x_int8(0));
    EXPECT_FALSE(kept_after({{residual_, kN}, {x() + 4, 2}}));  // the second range lies inside x
    made_.remember(x(), kN, x_int8(0));
    EXPECT_FALSE(kept_after({{activations_, 3 * kN}}));  // covers x
}

TEST_F(MadeXTest, ADeferredNormsXTildeIsGivenOnlyToReadersThatPassTheNorm) {
    remember_deferred();
    EXPECT_EQ(made_.x_int8(normed_, kN, 1), nullptr);
    EXPECT_EQ(made_.x_int8(normed_, kN, 1, true), x_int8(1));

    const MadeX::Read other = made_.read(residual_, kN, 1);  // reads another tensor: takes nothing
    EXPECT_EQ(other.x_int8, nullptr);
    EXPECT_EQ(other.norm(), nullptr);
    EXPECT_EQ(made_.read(normed_, kN, 2).norm(), nullptr);  // two tokens: no x~, so no norm

    const MadeX::Read first = made_.read(normed_, kN, 1);
    EXPECT_EQ(first.x_int8, x_int8(1));
    ASSERT_NE(first.norm(), nullptr);
    EXPECT_EQ(first.norm()->residual, residual_);
    EXPECT_EQ(first.norm()->weight, weight_);
    EXPECT_EQ(first.norm()->eps, 1e-5f);
    EXPECT_EQ(first.norm()->out, normed_);  // the first reader writes the norm's output

    const MadeX::Read second = made_.read(normed_, kN, 1);
    EXPECT_EQ(second.x_int8, x_int8(1));
    ASSERT_NE(second.norm(), nullptr);
    EXPECT_EQ(second.norm()->residual, residual_);
    EXPECT_EQ(second.norm()->out, nullptr);  // already written
}

TEST_F(MadeXTest, FinishRunsAnUnwrittenNormOnceAndKeepsItsXTilde) {
    remember_deferred();
    int runs = 0, nested_runs = 0;
    DeferredNorm ran;
    int64_t ran_n = 0;
    made_.finish_norm([&](const DeferredNorm& norm, int64_t n) {
        ++runs;
        ran = norm;
        ran_n = n;
        // As the backend's issue() does for the rms_norm launch: finish first (nothing left), then forget.
        made_.finish_norm([&](const DeferredNorm&, int64_t) { ++nested_runs; });
        made_.forget();
    });
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(nested_runs, 0);
    EXPECT_EQ(ran.residual, residual_);
    EXPECT_EQ(ran.weight, weight_);
    EXPECT_EQ(ran.out, normed_);
    EXPECT_EQ(ran_n, kN);

    EXPECT_EQ(made_.x_int8(normed_, kN, 1), nullptr);  // still a DeferredNorm's x~
    const MadeX::Read read = made_.read(normed_, kN, 1);
    EXPECT_EQ(read.x_int8, x_int8(1));
    ASSERT_NE(read.norm(), nullptr);
    EXPECT_EQ(read.norm()->out, nullptr);  // the rms_norm wrote it

    made_.finish_norm([&](const DeferredNorm&, int64_t) { ++runs; });
    EXPECT_EQ(runs, 1);
}

TEST_F(MadeXTest, FinishRunsNothingOnceAReaderTookTheOutput) {
    remember_deferred();
    made_.read(normed_, kN, 1);
    int runs = 0;
    made_.finish_norm([&](const DeferredNorm&, int64_t) { ++runs; });
    EXPECT_EQ(runs, 0);
}

TEST_F(MadeXTest, FinishRunsNothingForAProducersXTilde) {
    made_.remember(x(), kN, x_int8(0));
    int runs = 0;
    made_.finish_norm([&](const DeferredNorm&, int64_t) { ++runs; });
    EXPECT_EQ(runs, 0);
    EXPECT_EQ(made_.x_int8(x(), kN, 1), x_int8(0));
}

TEST_F(MadeXTest, AProducerAfterADeferredNormReplacesIt) {
    remember_deferred();
    made_.remember(x(), kN, x_int8(0));
    EXPECT_EQ(made_.x_int8(normed_, kN, 1, true), nullptr);
    EXPECT_EQ(made_.read(x(), kN, 1).norm(), nullptr);
    int runs = 0;
    made_.finish_norm([&](const DeferredNorm&, int64_t) { ++runs; });
    EXPECT_EQ(runs, 0);
}

// The decode order q/k/v -> attention: the projections read the DeferredNorm (the first one writes normed), keep its
// x~ across their launches, and the next op does not run the norm again.
TEST_F(MadeXTest, ReadersOfADeferredNormKeepItsXTildeAndLeaveNothingToFinish) {
    remember_deferred();
    for (int i = 0; i < 3; ++i) {
        const MadeX::Read read = made_.read(normed_, kN, 1);
        ASSERT_NE(read.norm(), nullptr) << "reader " << i;
        EXPECT_EQ(read.norm()->out, i == 0 ? normed_ : nullptr) << "reader " << i;
        EXPECT_TRUE(kept_after({{activations_, kN}}, normed_, x_int8(1))) << "reader " << i;
    }
    int runs = 0;
    made_.finish_norm([&](const DeferredNorm&, int64_t) { ++runs; });
    EXPECT_EQ(runs, 0);
}

// A matvec that does not read the norm's output (its x is another tensor) between the residual add and the readers:
// its launch runs the norm, as the backend's issue() does, and the readers after it neither write the output again
// nor leave the norm to run once more.
TEST_F(MadeXTest, AMatvecNotReadingTheNormRunsItOnceForTheReadersAfterIt) {
    remember_deferred();
    int runs = 0;
    made_.keep_across(nullptr, 0, [&] {
        made_.finish_norm([&](const DeferredNorm&, int64_t) { ++runs; });
        made_.forget();
    });
    EXPECT_EQ(runs, 1);
    const MadeX::Read read = made_.read(normed_, kN, 1);
    EXPECT_EQ(read.x_int8, x_int8(1));
    ASSERT_NE(read.norm(), nullptr);
    EXPECT_EQ(read.norm()->out, nullptr);  // the norm's launch wrote it
    made_.finish_norm([&](const DeferredNorm&, int64_t) { ++runs; });
    EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace spool::cuda
