"""What a trained run gets right and wrong: metrics, mistakes, predictions, the leaderboard."""
