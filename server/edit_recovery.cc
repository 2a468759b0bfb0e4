#include "server/edit_recovery.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/status.h"

namespace muke::server {

absl::StatusOr<RecoveryCounts> RecoverEdits(const EditJournal::Contents& contents, const EditJournal& journal,
                                            ServedModel& model, EditRegistry& registry, const PlanFn& plan) {
  RecoveryCounts counts;
  std::vector<std::string> order;  // first appearance = acceptance order
  std::map<std::string, std::vector<muke::v1::Edit>> history;
  // The COMMITTED edits applied so far, oldest first, with the tensors each replaced.
  std::vector<std::pair<std::string, TensorMap>> applied;
  const TensorLoadOptions load{model.device(), model.dtype()};

  for (const JournalRecord& record : contents.records) {
    const muke::v1::Edit& edit = record.edit();
    std::vector<muke::v1::Edit>& snapshots = history[edit.id()];
    if (snapshots.empty()) order.push_back(edit.id());
    const bool was_applied = !snapshots.empty() && snapshots.back().state() == muke::v1::EDIT_STATE_COMMITTED;
    snapshots.push_back(edit);

    if (edit.state() == muke::v1::EDIT_STATE_COMMITTED) {
      MUKE_ASSIGN_OR_RETURN(TensorMap weights, journal.ReadWeights(record, load));
      MUKE_ASSIGN_OR_RETURN(TensorMap previous, model.ApplyEdit(weights));
      applied.emplace_back(edit.id(), std::move(previous));
    } else if (was_applied) {
      // Rolled back, or failed after its commit record (the swap itself failed): undo it.
      if (applied.empty() || applied.back().first != edit.id()) {
        return absl::DataLossError(absl::StrCat("journal ", journal.dir(), ": edit '", edit.id(), "' is ",
                                                muke::v1::EditState_Name(edit.state()),
                                                " but is not the newest committed edit"));
      }
      MUKE_RETURN_IF_ERROR(model.ApplyEdit(applied.back().second).status());
      applied.pop_back();
    }
  }

  std::map<std::string, TensorMap> previous(std::make_move_iterator(applied.begin()),
                                            std::make_move_iterator(applied.end()));
  for (const std::string& id : order) {
    const std::vector<muke::v1::Edit>& snapshots = history.at(id);
    ++counts.edits;
    if (IsTerminal(snapshots.back().state())) {
      const auto it = previous.find(id);
      counts.applied += it != previous.end();
      registry.Restore(snapshots, it != previous.end() ? std::move(it->second) : TensorMap());
      continue;
    }
    absl::StatusOr<EditPlan> planned = plan(snapshots.back().request());
    (planned.ok() ? counts.requeued : counts.failed)++;
    registry.Requeue(snapshots, std::move(planned));
  }
  return counts;
}

}  // namespace muke::server
