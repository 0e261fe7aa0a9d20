"""dealx pipeline.

read documents -> build request -> cache or model -> validate -> ground -> write run.
"""
