def test_gradcheck_samples_a_deep_net_with_dropout(capsys):
    spec = str(Path(__file__).parents[2] / "specs" / "deep_convnet.net")
    assert main(["gradcheck", spec, "--batch", "2", "--entries", "5"]) == 0
    assert capsys.readouterr().out.count("\n") == 1 + 16 + 1
