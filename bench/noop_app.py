"""The load benchmark's baseline: a Flask endpoint that reads the JSON body and does nothing else."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/noop")
def noop():
    request.get_json(force=True, silent=True)
    return jsonify(accepted=True)
