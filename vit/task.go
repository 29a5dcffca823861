package vit

import (
	"context"
	"image"

	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "vit",
		Architectures: []string{"ViTForImageClassification", "ViTModel"},
		ModelTypes:    []string{"vit"},
		Tasks:         []string{task.Classify},
		Load: task.Loader(Load, func(m *Model, dir string) task.Model {
			arch := "ViTForImageClassification"
			if m.Classifier == nil {
				arch = "ViTModel"
			}
			return m.AsTask(arch, dir)
		}),
	})
}

// AsTask returns m as a task.Classifier (and task.Model) for the front
// door; arch and path fill its Info. A ViTModel without a classification
// head advertises no task. Closing it closes m; its Model method returns m.
func (m *Model) AsTask(arch, path string) task.Model {
	info := task.Info{Family: "vit", Architecture: arch, Path: path}
	if m.Classifier != nil {
		info.Tasks = []string{task.Classify}
	}
	return &taskModel{task.NewAdapter(m, info)}
}

type taskModel struct{ task.Adapter[*Model] }

func (t *taskModel) Classify(ctx context.Context, img image.Image, o task.ClassifyOptions) ([]task.Prediction, error) {
	return t.Model().Classify(ctx, img, o.TopK)
}
