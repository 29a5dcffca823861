package gpt2

import (
	"context"
	"image"
	"strings"

	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "vit-gpt2",
		Architectures: []string{"VisionEncoderDecoderModel"},
		ModelTypes:    []string{"vision-encoder-decoder"},
		Tasks:         []string{task.Caption},
		Load: task.Loader(LoadCaptioner, func(c *Captioner, dir string) task.Model {
			return c.AsTask("VisionEncoderDecoderModel", dir)
		}),
	})
}

// AsTask returns c as a task.Captioner (and task.Model) for the front door;
// arch and path fill its Info. Closing it closes c; its Model and
// Captioner methods return c.
func (c *Captioner) AsTask(arch, path string) task.Model {
	return &taskModel{task.NewAdapter(c, task.Info{Family: "vit-gpt2", Architecture: arch, Path: path, Tasks: []string{task.Caption}})}
}

type taskModel struct{ task.Adapter[*Captioner] }

// Captioner returns the captioner behind a front-door model.
func (t *taskModel) Captioner() *Captioner { return t.Model() }

func (t *taskModel) Caption(ctx context.Context, img image.Image, o task.CaptionOptions) (*task.CaptionResult, error) {
	if err := t.CheckOptions(o); err != nil {
		return nil, err
	}
	c, err := t.Model().Caption(ctx, img, CaptionOptions{Beams: o.Beams, MaxNewTokens: o.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	return &task.CaptionResult{Text: strings.TrimSpace(c.Text), IDs: c.IDs}, nil
}

// CheckOptions tells whether the model honours the options of a task
// (task.OptionChecker).
func (t *taskModel) CheckOptions(opt any) error {
	if o, ok := opt.(task.CaptionOptions); ok && o.Prompt != "" {
		return task.OptionErrorf(ErrInput, "prompt", "a ViT-GPT2 captioner does not take a prompt; use a BLIP captioning model")
	}
	return task.GenerationLimits{}.Check(ErrInput, opt)
}
