// The edit journal's file format and its crash handling: records read back in order after reopening, a torn
// or corrupt tail cut off (and kept for inspection) but never applied, damage followed by valid records
// refused, commit weight files checked by size and CRC-32C, orphan weight files removed, one process at a time.
// CRC-32C reference values: RFC 3720 appendix B.4 and the "123456789" check value.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/util/crc32c.h"
#include "core/util/file_io.h"
#include "server/edit_journal.h"
#include "tests/test_util.h"

namespace muke::server {
namespace {

namespace fs = std::filesystem;
using muke::testing::MakeTempDir;

JournalRecord Record(const std::string& id, muke::v1::EditState state) {
  JournalRecord record;
  record.mutable_edit()->set_id(id);
  record.mutable_edit()->set_state(state);
  record.mutable_edit()->mutable_request()->set_prompt("Who wrote record " + id + "?");
  return record;
}

std::unique_ptr<EditJournal> MustOpen(const std::string& dir, EditJournal::Contents* contents) {
  absl::StatusOr<std::unique_ptr<EditJournal>> journal = EditJournal::Open(dir, contents);
  EXPECT_TRUE(journal.ok()) << journal.status();
  return journal.ok() ? std::move(*journal) : nullptr;
}

std::vector<std::string> Ids(const EditJournal::Contents& contents) {
  std::vector<std::string> ids;
  for (const JournalRecord& record : contents.records) {
    ids.push_back(record.edit().id() + ":" + muke::v1::EditState_Name(record.edit().state()));
  }
  return ids;
}

std::string JournalFile(const std::string& dir) { return dir + "/edits.journal"; }

void Rewrite(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A journal holding records a (QUEUED), b (QUEUED), a (FAILED); returns its bytes.
std::string ThreeRecords(const std::string& dir) {
  EditJournal::Contents contents;
  std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
  EXPECT_TRUE(journal->Append(Record("a", muke::v1::EDIT_STATE_QUEUED)).ok());
  EXPECT_TRUE(journal->Append(Record("b", muke::v1::EDIT_STATE_QUEUED)).ok());
  EXPECT_TRUE(journal->Append(Record("a", muke::v1::EDIT_STATE_FAILED)).ok());
  return *ReadFileBytes(JournalFile(dir));
}

TEST(Crc32cTest, MatchesPublishedCheckValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(Crc32c("6789", Crc32c("12345")), Crc32c("123456789"));
}

TEST(EditJournalTest, RecordsReadBackInOrderAfterReopening) {
  const std::string dir = MakeTempDir("journal");
  ThreeRecords(dir);
  EditJournal::Contents contents;
  std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
  EXPECT_EQ(Ids(contents), (std::vector<std::string>{"a:EDIT_STATE_QUEUED", "b:EDIT_STATE_QUEUED",
                                                     "a:EDIT_STATE_FAILED"}));
  EXPECT_TRUE(contents.repairs.empty());
  EXPECT_EQ(contents.records[1].edit().request().prompt(), "Who wrote record b?");
  EXPECT_EQ(journal->size_bytes(), static_cast<int64_t>(fs::file_size(JournalFile(dir))));
}

TEST(EditJournalTest, TornTailIsCutOffKeptAndNeverApplied) {
  const std::string dir = MakeTempDir("journal");
  const std::string bytes = ThreeRecords(dir);
  // Every few torn lengths of the last record (a kill -9 in the middle of its write).
  const size_t last_record = bytes.size() - (Record("a", muke::v1::EDIT_STATE_FAILED).ByteSizeLong() + 12);
  for (size_t cut = last_record + 1; cut < bytes.size(); cut += 3) {
    Rewrite(JournalFile(dir), bytes.substr(0, cut));
    EditJournal::Contents contents;
    std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
    ASSERT_NE(journal, nullptr);
    EXPECT_EQ(Ids(contents), (std::vector<std::string>{"a:EDIT_STATE_QUEUED", "b:EDIT_STATE_QUEUED"})) << cut;
    ASSERT_EQ(contents.repairs.size(), 1u) << cut;
    EXPECT_EQ(contents.repairs[0].kind, "corrupt_record");
    EXPECT_NE(contents.repairs[0].message.find("cut off"), std::string::npos) << contents.repairs[0].message;
    EXPECT_EQ(fs::file_size(JournalFile(dir)), last_record) << cut;
  }
  // The damaged bytes were kept beside the journal.
  int saved = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    saved += entry.path().filename().string().find(".corrupt-") != std::string::npos;
  }
  EXPECT_GE(saved, 1);
}

TEST(EditJournalTest, AppendAfterARepairContinuesTheLog) {
  const std::string dir = MakeTempDir("journal");
  const std::string bytes = ThreeRecords(dir);
  Rewrite(JournalFile(dir), bytes.substr(0, bytes.size() - 5));
  {
    EditJournal::Contents contents;
    std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
    ASSERT_TRUE(journal->Append(Record("c", muke::v1::EDIT_STATE_QUEUED)).ok());
  }
  EditJournal::Contents contents;
  MustOpen(dir, &contents);
  EXPECT_EQ(Ids(contents), (std::vector<std::string>{"a:EDIT_STATE_QUEUED", "b:EDIT_STATE_QUEUED",
                                                     "c:EDIT_STATE_QUEUED"}));
  EXPECT_TRUE(contents.repairs.empty());
}

TEST(EditJournalTest, FlippedByteInTheLastRecordIsDetectedByTheChecksum) {
  const std::string dir = MakeTempDir("journal");
  std::string bytes = ThreeRecords(dir);
  bytes[bytes.size() - 3] ^= 0x20;
  Rewrite(JournalFile(dir), bytes);
  EditJournal::Contents contents;
  MustOpen(dir, &contents);
  EXPECT_EQ(contents.records.size(), 2u);
  ASSERT_EQ(contents.repairs.size(), 1u);
  EXPECT_NE(contents.repairs[0].message.find("checksum mismatch"), std::string::npos) << contents.repairs[0].message;
}

TEST(EditJournalTest, DamageFollowedByValidRecordsRefusesToOpen) {
  const std::string dir = MakeTempDir("journal");
  std::string bytes = ThreeRecords(dir);
  bytes[8 + 14] ^= 0x01;  // inside the first record's payload
  Rewrite(JournalFile(dir), bytes);
  EditJournal::Contents contents;
  absl::StatusOr<std::unique_ptr<EditJournal>> journal = EditJournal::Open(dir, &contents);
  ASSERT_FALSE(journal.ok());
  EXPECT_TRUE(absl::IsDataLoss(journal.status())) << journal.status();
  EXPECT_NE(journal.status().message().find("followed by valid records"), std::string::npos);
  EXPECT_EQ(*ReadFileBytes(JournalFile(dir)), bytes);  // nothing was cut
}

TEST(EditJournalTest, NotAJournalIsRefused) {
  const std::string dir = MakeTempDir("journal");
  Rewrite(JournalFile(dir), "{\"not\": \"a journal\"}");
  EditJournal::Contents contents;
  absl::StatusOr<std::unique_ptr<EditJournal>> journal = EditJournal::Open(dir, &contents);
  EXPECT_TRUE(absl::IsDataLoss(journal.status())) << journal.status();
}

TEST(EditJournalTest, OneProcessAtATime) {
  const std::string dir = MakeTempDir("journal");
  EditJournal::Contents contents;
  std::unique_ptr<EditJournal> first = MustOpen(dir, &contents);
  absl::StatusOr<std::unique_ptr<EditJournal>> second = EditJournal::Open(dir, &contents);
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
}

TEST(EditJournalTest, CommitWeightsRoundTripAndDamageIsDetected) {
  const std::string dir = MakeTempDir("journal");
  const TensorMap weights = {{"model.layers.1.mlp.down_proj.weight", torch::randn({8, 16})}};
  {
    EditJournal::Contents contents;
    std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
    muke::v1::Edit edit = Record("e1", muke::v1::EDIT_STATE_COMMITTED).edit();
    ASSERT_TRUE(journal->AppendCommit(edit, weights).ok());
    EXPECT_GT(journal->size_bytes(), 8 * 16 * 4);
  }
  EditJournal::Contents contents;
  std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
  ASSERT_EQ(contents.records.size(), 1u);
  const JournalRecord& commit = contents.records[0];
  EXPECT_EQ(commit.weights_file(), "weights/e1.safetensors");
  absl::StatusOr<TensorMap> read = journal->ReadWeights(commit, {});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(torch::equal(read->at("model.layers.1.mlp.down_proj.weight"),
                           weights.at("model.layers.1.mlp.down_proj.weight")));

  std::string file = *ReadFileBytes(dir + "/weights/e1.safetensors");
  file[file.size() - 1] ^= 0x01;
  Rewrite(dir + "/weights/e1.safetensors", file);
  EXPECT_TRUE(absl::IsDataLoss(journal->ReadWeights(commit, {}).status()));

  JournalRecord outside = commit;
  outside.set_weights_file("weights/../../etc/passwd");
  EXPECT_TRUE(absl::IsDataLoss(journal->ReadWeights(outside, {}).status()));
}

TEST(EditJournalTest, WeightFilesWithoutACommitRecordAreRemoved) {
  const std::string dir = MakeTempDir("journal");
  ThreeRecords(dir);
  // A crash after the weights were written but before the commit record.
  Rewrite(dir + "/weights/orphan.safetensors", "x");
  EditJournal::Contents contents;
  MustOpen(dir, &contents);
  EXPECT_FALSE(fs::exists(dir + "/weights/orphan.safetensors"));
  ASSERT_EQ(contents.repairs.size(), 1u);
  EXPECT_EQ(contents.repairs[0].kind, "orphan_weights");
  EXPECT_NE(contents.repairs[0].message.find("orphan.safetensors"), std::string::npos);
}

TEST(EditJournalTest, IsBoundToTheModelItsEditsWereMadeTo) {
  const std::string dir = MakeTempDir("journal");
  {
    EditJournal::Contents contents;
    std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
    EXPECT_TRUE(journal->BindModel("0123456789abcdef", "/models/a").ok());
    EXPECT_TRUE(journal->BindModel("0123456789abcdef", "/models/a-copy").ok());
  }
  EditJournal::Contents contents;
  std::unique_ptr<EditJournal> journal = MustOpen(dir, &contents);
  const absl::Status other = journal->BindModel("fedcba9876543210", "/models/b");
  EXPECT_TRUE(absl::IsFailedPrecondition(other)) << other;
  EXPECT_NE(other.message().find("0123456789abcdef"), std::string::npos) << other;
  EXPECT_NE(other.message().find("/models/b"), std::string::npos) << other;
}

}  // namespace
}  // namespace muke::server
