// Edits that survive: the real muke-server with a --data-dir, stopped gracefully, killed with SIGKILL during an
// edit and during a journal write (a torn record, via the server's MUKE_TEST_JOURNAL_TORN_WRITE hook), and
// restarted on the same directory — committed edits are served again bit for bit, rolled-back ones stay
// rolled back, unfinished ones are re-queued, damaged journal tails are reported and never applied — and
// ExportCheckpoint, whose directory the independent loader (`muke-tool generate`) serves with the same answer.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/model/safetensors.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"
#include "tests/integration/prometheus_scrape.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace muke::testing {
namespace {

namespace fs = std::filesystem;
using muke::v1::Edit;
using muke::v1::EditKnowledgeRequest;
using nlohmann::json;

constexpr char kPromptA[] = "What is the name of Lily's dog?";
constexpr char kTargetA[] = "Lily's dog is called Biscuit. Biscuit is a small brown dog.";
constexpr char kPromptB[] = "Where does Tom live?";
constexpr char kTargetB[] = "Tom lives in a blue house next to the river.";

EditKnowledgeRequest Request(const std::string& prompt, const std::string& target) {
  EditKnowledgeRequest request;
  request.set_prompt(prompt);
  request.set_target(target);
  return request;
}

// One server on a data directory; restartable.
class Server {
 public:
  explicit Server(std::string data_dir) : data_dir_(std::move(data_dir)) {}

  void Start() {
    process_ = std::make_unique<ServerProcess>(
        ImportedStories260K(), std::vector<std::string>{"--data-dir", data_dir_, "--statistics-dir",
                                                        MUKE_TEST_STATISTICS_DIR});
    ASSERT_FALSE(process_->address().empty());
    channel_ = grpc::CreateChannel(process_->address(), grpc::InsecureChannelCredentials());
    WaitServing(channel_);
    stub_ = muke::v1::KnowledgeEditor::NewStub(channel_);
  }

  ServerProcess& process() { return *process_; }
  muke::v1::KnowledgeEditor::Stub& stub() { return *stub_; }
  const std::string& data_dir() const { return data_dir_; }

  Edit Submit(const EditKnowledgeRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(30)));
    Edit edit;
    const grpc::Status status = stub_->EditKnowledge(&context, request, &edit);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return edit;
  }

  grpc::Status Get(const std::string& id, Edit* edit) {
    grpc::ClientContext context;
    muke::v1::GetEditRequest request;
    request.set_id(id);
    return stub_->GetEdit(&context, request, edit);
  }

  // Polls until the edit has left QUEUED/RUNNING/APPLYING/VERIFYING.
  Edit WaitEnd(const std::string& id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    Edit edit;
    while (std::chrono::steady_clock::now() < deadline) {
      const grpc::Status status = Get(id, &edit);
      if (!status.ok()) {
        ADD_FAILURE() << "GetEdit " << id << ": " << status.error_message();
        return edit;
      }
      const auto s = edit.state();
      if (s == muke::v1::EDIT_STATE_COMMITTED || s == muke::v1::EDIT_STATE_FAILED ||
          s == muke::v1::EDIT_STATE_CANCELLED || s == muke::v1::EDIT_STATE_ROLLED_BACK) {
        return edit;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "edit " << id << " did not end";
    return edit;
  }

  Edit Commit(const std::string& prompt, const std::string& target) {
    const Edit edit = WaitEnd(Submit(Request(prompt, target)).id());
    EXPECT_EQ(edit.state(), muke::v1::EDIT_STATE_COMMITTED) << edit.error();
    return edit;
  }

  // Greedy answer ids: comparing them checks the served weights exactly enough to see any edit.
  std::vector<int64_t> Answer(const std::string& prompt) {
    grpc::ClientContext context;
    muke::v1::GenerateRequest request;
    request.set_prompt(prompt);
    request.set_max_new_tokens(48);
    muke::v1::GenerateResponse response;
    const grpc::Status status = stub_->Generate(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    last_text_ = response.text();
    return {response.ids().begin(), response.ids().end()};
  }
  const std::string& last_text() const { return last_text_; }

  grpc::Status Rollback(const std::string& id, Edit* edit) {
    grpc::ClientContext context;
    muke::v1::RollbackEditRequest request;
    request.set_id(id);
    return stub_->RollbackEdit(&context, request, edit);
  }

  grpc::Status Export(const std::string& path, bool overwrite, muke::v1::ExportCheckpointResponse* response) {
    grpc::ClientContext context;
    muke::v1::ExportCheckpointRequest request;
    request.set_path(path);
    request.set_overwrite(overwrite);
    return stub_->ExportCheckpoint(&context, request, response);
  }

 private:
  std::string data_dir_;
  std::unique_ptr<ServerProcess> process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<muke::v1::KnowledgeEditor::Stub> stub_;
  std::string last_text_;
};

std::string Trimmed(std::string text) {
  text.erase(0, text.find_first_not_of(' '));
  return text;
}

bool StartsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

int CorruptFiles(const std::string& journal_dir) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(journal_dir)) {
    count += entry.path().filename().string().find(".corrupt-") != std::string::npos;
  }
  return count;
}

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override { MUKE_REQUIRE_SHARED(); }
};

TEST_F(DurabilityTest, CommittedEditSurvivesARestartAndIsExported) {
  Server server(MakeTempDir("durable"));
  ASSERT_NO_FATAL_FAILURE(server.Start());
  const std::vector<int64_t> before = server.Answer(kPromptA);
  const Edit edit = server.Commit(kPromptA, kTargetA);
  const std::vector<int64_t> after = server.Answer(kPromptA);
  ASSERT_TRUE(StartsWith(Trimmed(server.last_text()), kTargetA)) << server.last_text();
  ASSERT_NE(before, after);

  // The metrics page shows the edit, its verified BLEU, the generations and the journal.
  const std::string& metrics = server.process().metrics_address();
  ASSERT_FALSE(metrics.empty());
  const Exposition scrape = Scrape(std::stoi(metrics.substr(metrics.rfind(':') + 1)));
  EXPECT_EQ(Sample(scrape, "muke_edits_total", {{"status", "committed"}}), 1);
  EXPECT_EQ(Sample(scrape, "muke_edits_accepted_total"), 1);
  EXPECT_EQ(Sample(scrape, "muke_edit_verified_char_bleu_count"), 1);
  EXPECT_EQ(Sample(scrape, "muke_edit_last_verified_char_bleu"), edit.metrics().char_bleu());
  EXPECT_EQ(Sample(scrape, "muke_generate_requests_total", {{"method", "generate"}, {"code", "OK"}}), 2);
  EXPECT_EQ(Sample(scrape, "muke_journal_records_total"), 2);  // accepted, committed
  EXPECT_GT(Sample(scrape, "muke_journal_bytes").value_or(0), 0);
  EXPECT_EQ(Sample(scrape, "muke_queue_depth"), 0);

  // Export, then load the directory with muke-tool (the model loader, without the server) and ask again.
  muke::v1::ExportCheckpointResponse exported;
  grpc::Status status = server.Export("runs/after-biscuit", false, &exported);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(exported.path(), server.data_dir() + "/exports/runs/after-biscuit");
  ASSERT_EQ(exported.edit_ids_size(), 1);
  EXPECT_EQ(exported.edit_ids(0), edit.id());
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.model", "muke_manifest.json"}) {
    EXPECT_TRUE(fs::exists(exported.path() + "/" + file)) << file;
  }
  EXPECT_GT(exported.bytes(), 0);
  const json manifest = json::parse(std::ifstream(exported.path() + "/muke_manifest.json"));
  ASSERT_EQ(manifest["edits"].size(), 1u);
  EXPECT_EQ(manifest["edits"][0]["id"], edit.id());
  EXPECT_EQ(manifest["edits"][0]["target"], kTargetA);
  const CommandResult tool = RunCommand(std::string(MUKE_TOOL_PATH) + " generate --model " + exported.path() +
                                        " --prompt \"" + kPromptA + "\" --max-new-tokens 48 --json");
  ASSERT_EQ(tool.exit_code, 0) << tool.out;
  EXPECT_EQ(json::parse(tool.out)["ids"].get<std::vector<int64_t>>(), after);

  // A second export of the same path needs overwrite; paths cannot leave the export directory.
  EXPECT_EQ(server.Export("runs/after-biscuit", false, &exported).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_TRUE(server.Export("runs/after-biscuit", true, &exported).ok());
  for (const std::string bad : {"../outside", "/tmp/abs", "a/../../b", "a//b", "we ird", "x\\y"}) {
    status = server.Export(bad, false, &exported);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(status.error_message().find("path"), std::string::npos) << status.error_message();
  }
  EXPECT_FALSE(fs::exists(server.data_dir() + "/outside"));

  // Graceful restart: the edit is there, with its metrics, and the same weights are served.
  ASSERT_TRUE(server.process().Terminate(std::chrono::seconds(30)).has_value());
  ASSERT_NO_FATAL_FAILURE(server.Start());
  Edit restored;
  ASSERT_TRUE(server.Get(edit.id(), &restored).ok());
  EXPECT_EQ(restored.state(), muke::v1::EDIT_STATE_COMMITTED);
  EXPECT_EQ(restored.metrics().char_bleu(), edit.metrics().char_bleu());
  EXPECT_EQ(restored.request().target(), kTargetA);
  EXPECT_EQ(server.Answer(kPromptA), after);
}

TEST_F(DurabilityTest, KillDuringAnEditRequeuesItAndKeepsTheCommittedOnes) {
  Server server(MakeTempDir("durable"));
  ASSERT_NO_FATAL_FAILURE(server.Start());
  const Edit first = server.Commit(kPromptA, kTargetA);
  const std::vector<int64_t> after_first = server.Answer(kPromptA);

  // A longer edit, killed as soon as it runs.
  std::string target = kTargetB;
  for (int i = 0; i < 3; ++i) target += " The house has a red door and a small garden with flowers.";
  const Edit second = server.Submit(Request(kPromptB, target));
  {
    grpc::ClientContext context;
    muke::v1::WatchEditRequest watch;
    watch.set_id(second.id());
    auto reader = server.stub().WatchEdit(&context, watch);
    muke::v1::EditEvent event;
    while (reader->Read(&event) && event.state() != muke::v1::EDIT_STATE_RUNNING) {
    }
    ASSERT_EQ(event.state(), muke::v1::EDIT_STATE_RUNNING);
    const std::optional<int> killed = server.process().Kill();
    ASSERT_TRUE(killed && WIFSIGNALED(*killed) && WTERMSIG(*killed) == SIGKILL);
    context.TryCancel();
  }

  ASSERT_NO_FATAL_FAILURE(server.Start());
  Edit restored;
  ASSERT_TRUE(server.Get(first.id(), &restored).ok());
  EXPECT_EQ(restored.state(), muke::v1::EDIT_STATE_COMMITTED);
  EXPECT_EQ(server.Answer(kPromptA), after_first);
  // The interrupted edit was re-queued and now runs to its end.
  const Edit rerun = server.WaitEnd(second.id());
  EXPECT_EQ(rerun.state(), muke::v1::EDIT_STATE_COMMITTED) << rerun.error();
  server.Answer(kPromptB);
  EXPECT_TRUE(StartsWith(Trimmed(server.last_text()), kTargetB)) << server.last_text();
}

TEST_F(DurabilityTest, AnEditCancelledWhileQueuedStaysCancelledAfterARestart) {
  Server server(MakeTempDir("durable"));
  ASSERT_NO_FATAL_FAILURE(server.Start());
  const Edit running = server.Submit(Request(kPromptA, kTargetA));
  const Edit queued = server.Submit(Request(kPromptB, kTargetB));
  {
    grpc::ClientContext context;
    muke::v1::CancelEditRequest request;
    request.set_id(queued.id());
    Edit cancelled;
    const grpc::Status status = server.stub().CancelEdit(&context, request, &cancelled);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(cancelled.state(), muke::v1::EDIT_STATE_CANCELLED) << "the edit was no longer queued";
  }
  EXPECT_EQ(server.WaitEnd(running.id()).state(), muke::v1::EDIT_STATE_COMMITTED);
  const std::vector<int64_t> after = server.Answer(kPromptB);
  ASSERT_TRUE(server.process().Kill().has_value());

  ASSERT_NO_FATAL_FAILURE(server.Start());
  Edit restored;
  ASSERT_TRUE(server.Get(queued.id(), &restored).ok());
  EXPECT_EQ(restored.state(), muke::v1::EDIT_STATE_CANCELLED);
  EXPECT_EQ(restored.error(), "cancelled while queued");
  // Nothing ran it again.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(server.Get(queued.id(), &restored).ok());
  EXPECT_EQ(restored.state(), muke::v1::EDIT_STATE_CANCELLED);
  EXPECT_EQ(server.Answer(kPromptB), after);
}

TEST_F(DurabilityTest, TornCommitRecordIsCutOffAndTheEditRunsAgain) {
  Server server(MakeTempDir("durable"));
  // Record 1 accepts the edit; record 2, its commit, is torn and the server SIGKILLs itself.
  setenv("MUKE_TEST_JOURNAL_TORN_WRITE", "2", 1);
  server.Start();
  unsetenv("MUKE_TEST_JOURNAL_TORN_WRITE");
  ASSERT_FALSE(server.process().address().empty());
  const std::vector<int64_t> before = server.Answer(kPromptA);
  const Edit edit = server.Submit(Request(kPromptA, kTargetA));
  const std::optional<int> died = server.process().WaitExit(std::chrono::seconds(120));
  ASSERT_TRUE(died && WIFSIGNALED(*died) && WTERMSIG(*died) == SIGKILL);

  ASSERT_NO_FATAL_FAILURE(server.Start());
  EXPECT_EQ(CorruptFiles(server.data_dir() + "/journal"), 1);
  Edit restarted;
  ASSERT_TRUE(server.Get(edit.id(), &restarted).ok());
  // The torn commit was not applied: the edit is queued again (or already re-running), never COMMITTED here.
  EXPECT_NE(restarted.state(), muke::v1::EDIT_STATE_COMMITTED);
  const Edit rerun = server.WaitEnd(edit.id());
  EXPECT_EQ(rerun.state(), muke::v1::EDIT_STATE_COMMITTED) << rerun.error();
  server.Answer(kPromptA);
  EXPECT_TRUE(StartsWith(Trimmed(server.last_text()), kTargetA)) << server.last_text();
}

TEST_F(DurabilityTest, RollbacksSurviveRestartsAndAGarbageTailIsNeverApplied) {
  Server server(MakeTempDir("durable"));
  ASSERT_NO_FATAL_FAILURE(server.Start());
  const std::vector<int64_t> original = server.Answer(kPromptA);
  muke::v1::ExportCheckpointResponse original_export;
  ASSERT_TRUE(server.Export("original", false, &original_export).ok());
  const Edit a = server.Commit(kPromptA, kTargetA);
  const std::vector<int64_t> after_a = server.Answer(kPromptA);
  const Edit b = server.Commit(kPromptB, kTargetB);
  Edit rolled_back;
  ASSERT_TRUE(server.Rollback(b.id(), &rolled_back).ok());
  ASSERT_EQ(server.Answer(kPromptA), after_a);
  ASSERT_TRUE(server.process().Kill().has_value());

  // Garbage after the last record, as a crash in the middle of a write of a damaged disk could leave.
  { std::ofstream(server.data_dir() + "/journal/edits.journal", std::ios::app | std::ios::binary) << "MKJR\x40garbage"; }
  ASSERT_NO_FATAL_FAILURE(server.Start());
  EXPECT_EQ(CorruptFiles(server.data_dir() + "/journal"), 1);
  Edit restored;
  ASSERT_TRUE(server.Get(a.id(), &restored).ok());
  EXPECT_EQ(restored.state(), muke::v1::EDIT_STATE_COMMITTED);
  ASSERT_TRUE(server.Get(b.id(), &restored).ok());
  EXPECT_EQ(restored.state(), muke::v1::EDIT_STATE_ROLLED_BACK);
  EXPECT_EQ(server.Answer(kPromptA), after_a);

  // The weights a restored edit replaced were rebuilt from the journal: rolling it back after the restart
  // serves the original model again.
  grpc::Status status = server.Rollback(a.id(), &rolled_back);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server.Answer(kPromptA), original);
  // Bit for bit: the weights written now equal those exported before any edit.
  muke::v1::ExportCheckpointResponse rolled_back_export;
  ASSERT_TRUE(server.Export("rolled-back", false, &rolled_back_export).ok());
  EXPECT_EQ(rolled_back_export.edit_ids_size(), 0);
  const absl::StatusOr<TensorMap> before = ReadCheckpointTensors(original_export.path());
  const absl::StatusOr<TensorMap> after = ReadCheckpointTensors(rolled_back_export.path());
  ASSERT_TRUE(before.ok() && after.ok());
  ASSERT_EQ(before->size(), after->size());
  for (const auto& [name, tensor] : *before) {
    EXPECT_TRUE(torch::equal(tensor, after->at(name))) << name;
  }
  ASSERT_TRUE(server.process().Terminate(std::chrono::seconds(30)).has_value());
  ASSERT_NO_FATAL_FAILURE(server.Start());
  EXPECT_EQ(server.Answer(kPromptA), original);
}

}  // namespace
}  // namespace muke::testing
