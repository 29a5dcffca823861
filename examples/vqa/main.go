// Command vqa answers a question about an image with any visual
// question-answering model (BLIP, BLIP-2, LLaVA).
//
//	go run ./examples/vqa -question "what color is the cat?" cat.jpg
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/goformer/goformer"
)

func main() {
	modelID := flag.String("model", goformer.DefaultModel(goformer.TaskVQA), "Hub id or local model directory")
	question := flag.String("question", "what is in the picture?", "the question")
	maxTokens := flag.Int("max-tokens", 0, "most tokens to generate (0: the checkpoint's setting)")
	flag.Parse()
	log.SetFlags(0)
	if flag.NArg() != 1 {
		log.Fatal("usage: vqa [-model ID] -question TEXT IMAGE")
	}
	ctx := context.Background()

	a, model, err := goformer.LoadAs[goformer.Answerer](ctx, *modelID)
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	img, err := goformer.DecodeImageFile(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	ans, err := a.Answer(ctx, img, *question, goformer.AnswerOptions{MaxNewTokens: *maxTokens})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ans.Text)
}
