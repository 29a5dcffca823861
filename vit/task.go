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
		Load: func(dir string, o task.LoadOptions) (task.Model, error) {
			m, err := Load(dir, o.NN()...)
			if err != nil {
				return nil, err
			}
			arch := "ViTForImageClassification"
			if m.Classifier == nil {
				arch = "ViTModel"
			}
			return m.AsTask(arch, dir), nil
		},
	})
}

// AsTask returns m as a task.Classifier (and task.Model) for the front
// door; arch and path fill its Info. A ViTModel without a classification
// head advertises no task. Closing it closes m.
func (m *Model) AsTask(arch, path string) task.Model {
	info := task.Info{Family: "vit", Architecture: arch, Path: path}
	if m.Classifier != nil {
		info.Tasks = []string{task.Classify}
	}
	return &taskModel{m: m, info: info}
}

type taskModel struct {
	m    *Model
	info task.Info
}

func (t *taskModel) Info() task.Info { return t.info }
func (t *taskModel) Close() error    { return t.m.Close() }

// Model returns the ViT model behind a front-door model.
func (t *taskModel) Model() *Model { return t.m }

func (t *taskModel) Classify(ctx context.Context, img image.Image, o task.ClassifyOptions) ([]task.Prediction, error) {
	return t.m.Classify(ctx, img, o.TopK)
}
