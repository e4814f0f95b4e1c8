// Kept apart from teacher.cpp so that a build without the models area can still link every
// other distill symbol (a static library only pulls in the objects that are used).
#include "kdaug/distill/teacher.h"
#include "kdaug/models/checkpoint.h"

namespace kdaug::distill {

Teacher Teacher::load(const std::string& checkpoint, c10::Device device, TeacherOptions options) {
  models::LoadedModel loaded = models::load_model(checkpoint, device);
  return Teacher(loaded.model, std::move(options));
}

}  // namespace kdaug::distill
