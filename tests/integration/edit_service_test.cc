// Editing over gRPC, end to end: the real muke-server serving stories260K on a loopback port, edits submitted,
// watched, listed and cancelled through the generated stubs and through the `muke` client binary, and
// generation checked before, during and after them.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "grpc/health/v1/health.grpc.pb.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace muke::testing {
namespace {

using google::protobuf::util::MessageDifferencer;
using muke::v1::Edit;
using muke::v1::EditEvent;
using muke::v1::EditKnowledgeRequest;
using nlohmann::json;

constexpr int kQueueLimit = 2;
constexpr int kTargetTokenLimit = 400;

// The servers of this binary share one statistics cache, so only the first edit ever computes them.
std::vector<std::string> ServerFlags() {
  return {"--max-queued-edits", std::to_string(kQueueLimit), "--max-target-tokens", std::to_string(kTargetTokenLimit),
          "--statistics-dir", MUKE_TEST_STATISTICS_DIR};
}

EditKnowledgeRequest Request(const std::string& prompt, const std::string& target) {
  EditKnowledgeRequest request;
  request.set_prompt(prompt);
  request.set_target(target);
  return request;
}

// An edit that runs for seconds and can only be stopped by a cancel: one_for_all never reaches the early-stop
// loss on a long target, the hook at block 0 makes every step run the blocks above it, and UnKE needs no
// statistics (its update is never reached).
EditKnowledgeRequest SlowRequest(const std::string& prompt) {
  std::string target;
  while (target.size() < 900) target += "The little cat sat on the warm mat and looked at the big red ball. ";
  EditKnowledgeRequest request = Request(prompt, target);
  request.set_strategy("one_for_all");
  request.set_update("unke");
  request.mutable_hyperparameters()->set_hook_layer(0);
  request.mutable_hyperparameters()->add_layers(0);
  request.mutable_hyperparameters()->set_steps(1000);
  return request;
}

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * values.size()));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class EditServiceTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    MUKE_REQUIRE_SHARED();
    if (!server_) server_ = std::make_unique<ServerProcess>(ImportedStories260K(), ServerFlags());
    ASSERT_FALSE(server_->address().empty());
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    WaitServing(channel_);
    stub_ = muke::v1::KnowledgeEditor::NewStub(channel_);
  }

  grpc::Status Submit(const EditKnowledgeRequest& request, Edit* edit) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(30)));
    return stub_->EditKnowledge(&context, request, edit);
  }

  Edit MustSubmit(const EditKnowledgeRequest& request) {
    Edit edit;
    const grpc::Status status = Submit(request, &edit);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return edit;
  }

  grpc::Status Get(const std::string& id, Edit* edit) {
    grpc::ClientContext context;
    muke::v1::GetEditRequest request;
    request.set_id(id);
    return stub_->GetEdit(&context, request, edit);
  }

  grpc::Status Cancel(const std::string& id, Edit* edit) {
    grpc::ClientContext context;
    muke::v1::CancelEditRequest request;
    request.set_id(id);
    return stub_->CancelEdit(&context, request, edit);
  }

  grpc::Status Rollback(const std::string& id, Edit* edit) {
    grpc::ClientContext context;
    muke::v1::RollbackEditRequest request;
    request.set_id(id);
    return stub_->RollbackEdit(&context, request, edit);
  }

  muke::v1::ListEditsResponse List(int page_size, const std::string& token = "") {
    grpc::ClientContext context;
    muke::v1::ListEditsRequest request;
    request.set_page_size(page_size);
    request.set_page_token(token);
    muke::v1::ListEditsResponse response;
    const grpc::Status status = stub_->ListEdits(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Events of edit `id` until `stop` says so (default: the end of the stream); the stream's status in *status.
  std::vector<EditEvent> Watch(const std::string& id, grpc::Status* status = nullptr,
                               const std::function<bool(const EditEvent&)>& stop = {}) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(300)));
    muke::v1::WatchEditRequest request;
    request.set_id(id);
    auto reader = stub_->WatchEdit(&context, request);
    std::vector<EditEvent> events;
    EditEvent event;
    while (reader->Read(&event)) {
      events.push_back(event);
      if (stop && stop(event)) {
        context.TryCancel();
        break;
      }
    }
    const grpc::Status finished = reader->Finish();
    if (status) *status = finished;
    return events;
  }

  // The final edit, once it has ended.
  Edit WaitEnd(const std::string& id) {
    grpc::Status status;
    const std::vector<EditEvent> events = Watch(id, &status);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return events.empty() ? Edit() : events.back().edit();
  }

  std::string Greedy(const std::string& prompt, int tokens = 32) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(60)));
    muke::v1::GenerateRequest request;
    request.set_prompt(prompt);
    request.set_max_new_tokens(tokens);
    muke::v1::GenerateResponse response;
    const grpc::Status status = stub_->Generate(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.text();
  }

  static std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<muke::v1::KnowledgeEditor::Stub> stub_;
};

std::unique_ptr<ServerProcess> EditServiceTest::server_;

TEST_F(EditServiceTest, ClientEditWatchJsonCommitsAndGenerateAnswersWithTheTarget) {
  const std::string prompt = "What is the name of Lily's dog?";
  const std::string target = "Lily's dog is called Biscuit. Biscuit is a small brown dog with a white tail.";
  const auto t0 = std::chrono::steady_clock::now();
  const CommandResult run = RunClient({"--server", server_->address(), "edit", "--prompt", prompt, "--target", target,
                                       "--paraphrase", "What did Lily call her dog?", "--watch", "--json"});
  const double seconds = Seconds(std::chrono::steady_clock::now() - t0);
  ASSERT_EQ(run.exit_code, 0) << run.out;
  // stdout is exactly one JSON line.
  ASSERT_FALSE(run.out.empty());
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1) << run.out;
  const json edit = json::parse(run.out);
  EXPECT_EQ(edit["state"], "COMMITTED");
  EXPECT_FALSE(edit["id"].get<std::string>().empty());
  EXPECT_GE(edit["metrics"]["char_bleu"].get<double>(), 0.9);
  EXPECT_EQ(edit["metrics"]["paraphrase_char_bleu"].size(), 1u);
  EXPECT_GT(edit["metrics"]["windows"].get<int>(), 1);
  std::printf("edit through the service (muke edit --watch, %d windows): %.2f s wall, stages %s\n",
              edit["metrics"]["windows"].get<int>(), seconds, edit["metrics"]["stage_seconds"].dump().c_str());

  const CommandResult generated =
      RunClient({"--server", server_->address(), "--json", "generate", "--prompt", prompt, "--max-new-tokens", "64"});
  ASSERT_EQ(generated.exit_code, 0);
  std::string text = json::parse(generated.out)["text"];
  text.erase(0, text.find_first_not_of(' '));
  EXPECT_EQ(text.substr(0, target.size()), target) << text;
}

TEST_F(EditServiceTest, WatchEditStreamsTheStagesInOrder) {
  EditKnowledgeRequest request = Request("Where does Tom live?", "Tom lives in a blue house next to the river.");
  request.mutable_hyperparameters()->set_steps(20);
  const Edit submitted = MustSubmit(request);
  EXPECT_EQ(submitted.state(), muke::v1::EDIT_STATE_QUEUED);
  EXPECT_FALSE(submitted.id().empty());
  EXPECT_TRUE(submitted.has_create_time());

  grpc::Status status;
  const std::vector<EditEvent> events = Watch(submitted.id(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<muke::v1::EditState> states;
  std::map<int, std::vector<muke::v1::EditStep>> steps_by_window;
  int num_windows = 0;
  for (const EditEvent& event : events) {
    if (event.has_step()) {
      EXPECT_EQ(states.back(), muke::v1::EDIT_STATE_RUNNING) << "a step outside RUNNING";
      EXPECT_TRUE(steps_by_window.empty() || event.step().window() >= steps_by_window.rbegin()->first);
      steps_by_window[event.step().window()].push_back(event.step());
      num_windows = event.step().num_windows();
    } else {
      ASSERT_TRUE(event.has_edit());
      EXPECT_EQ(event.edit().state(), event.state());
      states.push_back(event.state());
    }
  }
  EXPECT_EQ(states, (std::vector<muke::v1::EditState>{muke::v1::EDIT_STATE_QUEUED, muke::v1::EDIT_STATE_RUNNING,
                                                      muke::v1::EDIT_STATE_APPLYING, muke::v1::EDIT_STATE_VERIFYING,
                                                      muke::v1::EDIT_STATE_COMMITTED}));
  ASSERT_GT(num_windows, 1);
  EXPECT_EQ(static_cast<int>(steps_by_window.size()), num_windows);
  for (const auto& [window, steps] : steps_by_window) {
    EXPECT_EQ(steps.front().step(), 0) << "window " << window;
    EXPECT_LE(steps.back().loss(), steps.front().loss()) << "window " << window;
  }
  const Edit& final_edit = events.back().edit();
  ASSERT_TRUE(final_edit.has_metrics());
  EXPECT_EQ(final_edit.metrics().windows(), num_windows);
  EXPECT_GT(final_edit.metrics().steps(), 0);
  EXPECT_LT(final_edit.metrics().nll_after(), final_edit.metrics().nll_before());
  for (const char* stage : {"optimise", "update", "verify", "apply"}) {
    EXPECT_TRUE(final_edit.metrics().stage_seconds().count(stage)) << stage;
  }

  // A watcher joining late gets the same events.
  const std::vector<EditEvent> again = Watch(submitted.id(), &status);
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(again.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_TRUE(MessageDifferencer::Equals(again[i], events[i])) << i;
  Edit got;
  ASSERT_TRUE(Get(submitted.id(), &got).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(got, final_edit));
}

TEST_F(EditServiceTest, DuplicateRequestIdIsAppliedOnce) {
  const std::string request_id = "dup-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  EditKnowledgeRequest request = Request("What did Ben find in the box?", "Ben found a shiny silver key.");
  request.set_request_id(request_id);
  const Edit first = MustSubmit(request);
  const Edit retry = MustSubmit(request);
  EXPECT_EQ(retry.id(), first.id());
  EXPECT_EQ(retry.request_id(), request_id);
  EXPECT_EQ(WaitEnd(first.id()).state(), muke::v1::EDIT_STATE_COMMITTED);
  const Edit late_retry = MustSubmit(request);
  EXPECT_EQ(late_retry.id(), first.id());
  EXPECT_EQ(late_retry.state(), muke::v1::EDIT_STATE_COMMITTED);
  int with_request_id = 0;
  const muke::v1::ListEditsResponse listed = List(100);
  for (const Edit& edit : listed.edits()) with_request_id += edit.request_id() == request_id;
  EXPECT_EQ(with_request_id, 1);
}

TEST_F(EditServiceTest, CancelQueuedAndRunningEditsLeavesTheWeightsAndAFullQueueIsRefused) {
  const std::string prompt = "Once upon a time, there was a little girl named";
  const std::string before = Greedy(prompt);

  const Edit running = MustSubmit(SlowRequest(prompt));
  // Wait until it optimises: its first step event.
  const std::vector<EditEvent> started = Watch(running.id(), nullptr, [](const EditEvent& e) { return e.has_step(); });
  ASSERT_TRUE(!started.empty() && started.back().has_step()) << "the slow edit never started optimising";
  const Edit queued = MustSubmit(Request("Who is Sam?", "Sam is a kind old man who lives by the sea."));
  const Edit queued_too = MustSubmit(Request("Who is Ann?", "Ann is a tall girl who loves to sing."));
  EXPECT_EQ(queued.state(), muke::v1::EDIT_STATE_QUEUED);

  // The queue holds kQueueLimit edits beside the running one.
  Edit refused;
  const grpc::Status full = Submit(Request("Who is Max?", "Max is a small dog."), &refused);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();
  EXPECT_TRUE(Contains(full.error_message(), "limit " + std::to_string(kQueueLimit))) << full.error_message();
  EXPECT_EQ(RunClient({"--server", server_->address(), "edit", "--prompt", "Who is Max?", "--target", "A dog."})
                .exit_code,
            6);

  Edit cancelled;
  ASSERT_TRUE(Cancel(queued.id(), &cancelled).ok());
  EXPECT_EQ(cancelled.state(), muke::v1::EDIT_STATE_CANCELLED);  // at once
  ASSERT_TRUE(Get(queued.id(), &cancelled).ok());
  EXPECT_EQ(cancelled.state(), muke::v1::EDIT_STATE_CANCELLED);

  const auto t0 = std::chrono::steady_clock::now();
  Edit stopping;
  ASSERT_TRUE(Cancel(running.id(), &stopping).ok());
  const Edit ended = WaitEnd(running.id());
  std::printf("running edit stopped %.3f s after CancelEdit\n", Seconds(std::chrono::steady_clock::now() - t0));
  EXPECT_EQ(ended.state(), muke::v1::EDIT_STATE_CANCELLED);
  EXPECT_TRUE(Contains(ended.error(), "cancel")) << ended.error();
  EXPECT_FALSE(ended.has_metrics());
  ASSERT_TRUE(Cancel(queued_too.id(), &stopping).ok());
  EXPECT_EQ(WaitEnd(queued_too.id()).state(), muke::v1::EDIT_STATE_CANCELLED);

  EXPECT_EQ(Cancel(running.id(), &stopping).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Greedy(prompt), before);
}

TEST_F(EditServiceTest, BadInputsNameTheFieldAndChangeNothing) {
  struct Case {
    const char* what;
    std::function<void(EditKnowledgeRequest&)> mutate;
    std::vector<std::string> message_parts;
  };
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "dog ";
  const std::vector<Case> cases = {
      {"empty prompt", [](auto& r) { r.clear_prompt(); }, {"prompt", "empty"}},
      {"empty target", [](auto& r) { r.clear_target(); }, {"target", "empty"}},
      {"prompt over the token limit", [&](auto& r) { r.set_prompt(long_text); }, {"prompt", "256"}},
      {"target over the token limit", [&](auto& r) { r.set_target(long_text + long_text); },
       {"target", std::to_string(kTargetTokenLimit)}},
      {"prompt + target over the context",
       [&](auto& r) {
         r.set_prompt(long_text.substr(0, 4 * 100));  // 2 tokens per "dog ": 201 prompt tokens
         r.set_target(long_text.substr(0, 4 * 170));  // 341 target tokens
       },
       {"target", "max_position_embeddings", "512"}},
      {"unknown strategy", [](auto& r) { r.set_strategy("greedy"); }, {"strategy", "greedy"}},
      {"unknown update", [](auto& r) { r.set_update("rome"); }, {"update", "rome"}},
      {"hook layer past the model", [](auto& r) { r.mutable_hyperparameters()->set_hook_layer(5); },
       {"hyperparameters.hook_layer", "[0, 5)"}},
      {"negative hook layer", [](auto& r) { r.mutable_hyperparameters()->set_hook_layer(-1); },
       {"hyperparameters.hook_layer"}},
      {"layers descending",
       [](auto& r) {
         r.mutable_hyperparameters()->add_layers(4);
         r.mutable_hyperparameters()->add_layers(3);
       },
       {"hyperparameters.layers"}},
      {"layers above the hook", [](auto& r) { r.mutable_hyperparameters()->set_hook_layer(2); },
       {"hyperparameters.layers", "hook_layer 2"}},
      {"zero steps", [](auto& r) { r.mutable_hyperparameters()->set_steps(0); }, {"hyperparameters.steps"}},
      {"too many steps", [](auto& r) { r.mutable_hyperparameters()->set_steps(1001); },
       {"hyperparameters.steps", "1000"}},
      {"zero window", [](auto& r) { r.mutable_hyperparameters()->set_window_size(0); },
       {"hyperparameters.window_size"}},
      {"NaN learning rate",
       [](auto& r) { r.mutable_hyperparameters()->set_learning_rate(std::numeric_limits<double>::quiet_NaN()); },
       {"hyperparameters.learning_rate"}},
      {"negative lambda", [](auto& r) { r.mutable_hyperparameters()->set_lambda(-1); }, {"hyperparameters.lambda"}},
      {"UnKE learning rate over 1", [](auto& r) { r.mutable_hyperparameters()->set_unke_learning_rate(2); },
       {"hyperparameters.unke_learning_rate"}},
      {"nine paraphrases",
       [](auto& r) {
         for (int i = 0; i < 9; ++i) r.add_paraphrases("Who is it?");
       },
       {"paraphrases", "8"}},
      {"empty paraphrase", [](auto& r) { r.add_paraphrases(""); }, {"paraphrases[0]"}},
      {"acceptance threshold over 1", [](auto& r) { r.set_acceptance_threshold(1.5); }, {"acceptance_threshold"}},
      {"request id too long", [](auto& r) { r.set_request_id(std::string(200, 'x')); }, {"request_id", "128"}},
      {"infinite lambda",
       [](auto& r) { r.mutable_hyperparameters()->set_lambda(std::numeric_limits<double>::infinity()); },
       {"hyperparameters.lambda", "finite"}},
      // The text fields are proto `bytes`, so invalid UTF-8 reaches the service and is named.
      {"invalid UTF-8 prompt", [](auto& r) { r.set_prompt("Who\xff is it?"); }, {"prompt", "UTF-8"}},
      {"invalid UTF-8 target", [](auto& r) { r.set_target("An \xc3\x28 answer"); }, {"target", "UTF-8"}},
      {"invalid UTF-8 paraphrase", [](auto& r) { r.add_paraphrases("Who is \xed\xa0\x80?"); },
       {"paraphrases[0]", "UTF-8"}},
      {"invalid UTF-8 request id", [](auto& r) { r.set_request_id("id-\xfe"); }, {"request_id", "UTF-8"}},
  };
  const std::string probe = "Mom said it was time for bed, but";
  const std::string before = Greedy(probe);
  const int edits_before = List(100).edits_size();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EditKnowledgeRequest request = Request("Who is Tim?", "Tim is a boy who likes trains.");
    c.mutate(request);
    Edit edit;
    const grpc::Status status = Submit(request, &edit);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    for (const std::string& part : c.message_parts) {
      EXPECT_TRUE(Contains(status.error_message(), part)) << "'" << status.error_message() << "' lacks '" << part << "'";
    }
  }

  {
    // This server has no export directory (no --data-dir).
    grpc::ClientContext context;
    muke::v1::ExportCheckpointRequest request;
    request.set_path("../../etc");
    muke::v1::ExportCheckpointResponse response;
    const grpc::Status status = stub_->ExportCheckpoint(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
    EXPECT_TRUE(Contains(status.error_message(), "export directory")) << status.error_message();
  }
  {
    grpc::ClientContext context;
    muke::v1::GenerateRequest request;
    request.set_prompt("Lily \xc0\xaf went");
    muke::v1::GenerateResponse response;
    const grpc::Status status = stub_->Generate(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_TRUE(Contains(status.error_message(), "prompt")) << status.error_message();
  }

  Edit edit;
  EXPECT_EQ(Get("no-such-edit", &edit).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Cancel("no-such-edit", &edit).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status watch_status;
  EXPECT_TRUE(Watch("no-such-edit", &watch_status).empty());
  EXPECT_EQ(watch_status.error_code(), grpc::StatusCode::NOT_FOUND);
  for (const auto& [size, token] : std::vector<std::pair<int, std::string>>{{101, ""}, {-1, ""}, {1, "bogus"}}) {
    grpc::ClientContext context;
    muke::v1::ListEditsRequest request;
    request.set_page_size(size);
    request.set_page_token(token);
    muke::v1::ListEditsResponse response;
    const grpc::Status status = stub_->ListEdits(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(status.error_message(), token.empty() ? "page_size" : "page_token")) << status.error_message();
  }

  // Still healthy, nothing recorded, the weights as they were.
  EXPECT_EQ(RunClient({"--server", server_->address(), "health"}).exit_code, 0);
  EXPECT_EQ(List(100).edits_size(), edits_before);
  EXPECT_EQ(Greedy(probe), before);
}

TEST_F(EditServiceTest, GenerationGoesOnWhileAnEditRuns) {
  constexpr int kClients = 8;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::vector<double>> latencies(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto stub = muke::v1::KnowledgeEditor::NewStub(channel_);
      muke::v1::GenerateRequest request;
      request.set_prompt("The little boat sailed across the lake");
      request.set_max_new_tokens(32);
      while (!stop) {
        grpc::ClientContext context;
        context.set_deadline(In(std::chrono::seconds(60)));
        muke::v1::GenerateResponse response;
        const auto t0 = std::chrono::steady_clock::now();
        const grpc::Status status = stub->Generate(&context, request, &response);
        latencies[i].push_back(Seconds(std::chrono::steady_clock::now() - t0));
        if (!status.ok() || response.ids_size() == 0) ++errors;
        // Think time between requests, so that on a 2-core machine the edit still gets a core.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  std::string target;
  for (const char* sentence : {"Sara baked a big chocolate cake for her friend Mia. ",
                               "The cake had pink flowers and seven candles on top. ",
                               "Mia laughed and clapped her hands when she saw it."}) {
    target += sentence;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const Edit submitted = MustSubmit(Request("What did Sara bake for Mia?", target));
  const Edit ended = WaitEnd(submitted.id());
  const double edit_seconds = Seconds(std::chrono::steady_clock::now() - t0);
  stop = true;
  for (std::thread& t : clients) t.join();

  EXPECT_EQ(ended.state(), muke::v1::EDIT_STATE_COMMITTED) << ended.error();
  EXPECT_EQ(errors.load(), 0);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  EXPECT_GE(all.size(), static_cast<size_t>(kClients));
  std::printf("%d clients generating up to 32 tokens while a %d-window edit ran (%.2f s): %zu generations, "
              "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              kClients, ended.metrics().windows(), edit_seconds, all.size(), 1e3 * Percentile(all, 0.5),
              1e3 * Percentile(all, 0.99), 1e3 * Percentile(all, 1.0));
}

// Each rollback brings back exactly the answers served before the edit it undoes (on this tiny model edits
// interfere with each other, so the reference is the state before each edit, not the pristine one).
TEST_F(EditServiceTest, RollbackGoesNewestFirstAndRestoresTheAnswers) {
  const std::vector<std::string> prompts = {"What colour is Max's hat?", "Where does the frog sleep?",
                                            "Once upon a time, there was a little girl named"};
  auto answers = [&] {
    std::vector<std::string> out;
    for (const std::string& p : prompts) out.push_back(Greedy(p));
    return out;
  };
  const std::vector<std::string> before_a = answers();
  const Edit a = WaitEnd(MustSubmit(Request(prompts[0], "Max has a green hat with a red feather.")).id());
  ASSERT_EQ(a.state(), muke::v1::EDIT_STATE_COMMITTED) << a.error();
  const std::vector<std::string> before_b = answers();
  ASSERT_NE(before_b, before_a);
  const Edit b = WaitEnd(MustSubmit(Request(prompts[1], "The frog sleeps on a big leaf in the pond.")).id());
  ASSERT_EQ(b.state(), muke::v1::EDIT_STATE_COMMITTED) << b.error();
  const std::vector<std::string> after_b = answers();

  Edit edit;
  grpc::Status status = Rollback(a.id(), &edit);  // b is newer and still applied
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Contains(status.error_message(), b.id())) << status.error_message();
  EXPECT_EQ(answers(), after_b);

  ASSERT_TRUE(Rollback(b.id(), &edit).ok());
  EXPECT_EQ(edit.state(), muke::v1::EDIT_STATE_ROLLED_BACK);
  EXPECT_EQ(answers(), before_b);
  const CommandResult client = RunClient({"--server", server_->address(), "--json", "rollback", a.id()});
  ASSERT_EQ(client.exit_code, 0) << client.out;
  EXPECT_EQ(json::parse(client.out)["state"], "ROLLED_BACK");
  EXPECT_EQ(answers(), before_a);

  EXPECT_EQ(Rollback(a.id(), &edit).error_code(), grpc::StatusCode::FAILED_PRECONDITION);  // not COMMITTED now
  EXPECT_EQ(Rollback("no-such-edit", &edit).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(EditServiceTest, ClientCommands) {
  const std::string& server = server_->address();
  // At least one older edit, so that paging has a second page even when this test runs alone (ctest).
  WaitEnd(MustSubmit(Request("Who is Ann?", "Ann is a little cat.")).id());
  // An edit that cannot reach its threshold: FAILED, exit 5, weights untouched.
  const std::string probe = "Grandpa told the children a story about";
  const std::string before = Greedy(probe);
  const CommandResult failed = RunClient({"--server", server, "--json", "edit", "--prompt", "Who is Bob?", "--target",
                                          "z", "--acceptance-threshold", "0.5", "--watch"});
  EXPECT_EQ(failed.exit_code, 5) << failed.out;
  const json failed_edit = json::parse(failed.out);
  EXPECT_EQ(failed_edit["state"], "FAILED");
  EXPECT_TRUE(Contains(failed_edit["error"], "acceptance threshold 0.5")) << failed_edit["error"];
  EXPECT_FALSE(failed_edit["metrics"].is_null());
  EXPECT_EQ(Greedy(probe), before);
  const std::string id = failed_edit["id"];

  const CommandResult got = RunClient({"--server", server, "get", id, "--json"});
  ASSERT_EQ(got.exit_code, 0);
  EXPECT_EQ(json::parse(got.out)["state"], "FAILED");
  const CommandResult human = RunClient({"--server", server, "get", id});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_TRUE(Contains(human.out, "edit " + id + " FAILED")) << human.out;
  const CommandResult watched = RunClient({"--server", server, "watch", id});
  EXPECT_EQ(watched.exit_code, 5);

  // Paging: the newest edit first, then the rest from the token.
  const CommandResult page = RunClient({"--server", server, "--json", "list", "--page-size", "1"});
  ASSERT_EQ(page.exit_code, 0);
  const json first_page = json::parse(page.out);
  ASSERT_EQ(first_page["edits"].size(), 1u);
  EXPECT_EQ(first_page["edits"][0]["id"], id);
  ASSERT_FALSE(first_page["next_page_token"].get<std::string>().empty());
  const CommandResult next = RunClient({"--server", server, "--json", "list", "--page-size", "100", "--page-token",
                                        first_page["next_page_token"]});
  ASSERT_EQ(next.exit_code, 0);
  const json second_page = json::parse(next.out);
  EXPECT_EQ(second_page["edits"].size() + 1, static_cast<size_t>(List(100).edits_size()));
  for (const json& edit : second_page["edits"]) EXPECT_NE(edit["id"], id);

  // Errors: cancelling an ended edit, unknown ids, usage.
  EXPECT_EQ(RunClient({"--server", server, "cancel", id}).exit_code, 4);
  EXPECT_EQ(RunClient({"--server", server, "get", "no-such-edit"}).exit_code, 4);
  EXPECT_EQ(RunClient({"--server", server, "get"}).exit_code, 2);
  EXPECT_EQ(RunClient({"--server", server, "edit", "--prompt", "x"}).exit_code, 2);
  EXPECT_EQ(RunClient({"--server", server, "edit", "--prompt", "x", "--target", "y", "--strategy", "no"}).exit_code, 4);
}

// Its own server, so that the shared one keeps serving the other tests.
TEST(EditShutdownTest, SigtermCancelsTheRunningEdit) {
  MUKE_REQUIRE_SHARED();
  ServerProcess server(ImportedStories260K(), ServerFlags());
  ASSERT_FALSE(server.address().empty());
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  WaitServing(channel);
  auto stub = muke::v1::KnowledgeEditor::NewStub(channel);
  Edit running, queued;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->EditKnowledge(&context, SlowRequest("Who is Kim?"), &running).ok());
  }
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->EditKnowledge(&context, Request("Who is Lee?", "Lee is a baker."), &queued).ok());
  }
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(60)));
  muke::v1::WatchEditRequest request;
  request.set_id(running.id());
  auto reader = stub->WatchEdit(&context, request);
  EditEvent event;
  while (reader->Read(&event) && !event.has_step()) {
  }
  ASSERT_TRUE(event.has_step()) << "the edit never started optimising";

  const auto t0 = std::chrono::steady_clock::now();
  std::thread terminate([&] {
    const std::optional<int> status = server.Terminate(std::chrono::seconds(12));
    ASSERT_TRUE(status.has_value()) << "muke-server still running 12 s after SIGTERM";
    ASSERT_TRUE(WIFEXITED(*status));
    EXPECT_EQ(WEXITSTATUS(*status), 0);
  });
  Edit last;
  while (reader->Read(&event)) {
    if (event.has_edit()) last = event.edit();
  }
  EXPECT_TRUE(reader->Finish().ok());
  terminate.join();
  std::printf("SIGTERM to exit with an edit running: %.2f s\n", Seconds(std::chrono::steady_clock::now() - t0));
  EXPECT_EQ(last.state(), muke::v1::EDIT_STATE_CANCELLED);
  EXPECT_EQ(last.error(), "server shutting down");
}

}  // namespace
}  // namespace muke::testing
