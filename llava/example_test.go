package llava_test

import (
	"context"
	"fmt"
	"image"
	"log"

	"github.com/goformer/goformer"
	"github.com/goformer/goformer/llava"
	"github.com/goformer/goformer/task"
)

// The example loads the random-weight LLaVA fixture of the project's
// reference data: its answers are gibberish, but the same ones
// transformers gives for those weights. A real checkpoint is a folder of
// llava-hf/llava-1.5-7b-hf.
func Example() {
	m, err := llava.Load("../../shared/fixtures/llava/model")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	img, err := goformer.DecodeImageFile("../../shared/media/images/chelsea.png")
	if err != nil {
		log.Fatal(err)
	}
	msgs := []llava.Message{{Role: task.RoleUser, Text: "What is shown?", Images: []image.Image{img}}}
	prompt, _, _ := m.Template().Prompt(msgs)
	fmt.Printf("%q\n", prompt)
	res, err := m.Chat(context.Background(), msgs, llava.ChatOptions{
		MaxNewTokens: 5,
		OnToken:      func(piece string) { fmt.Printf("[%s]", piece) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\n%s (%s)\n", res.Text, res.FinishReason)
	// Output:
	// "USER: <image>\nWhat is shown? ASSISTANT:"
	// [hombres][ metadata][ différentes][ différentes][ différentes]
	// hombres metadata différentes différentes différentes (length)
}
