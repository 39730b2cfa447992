"""The evaluator the template tests stand on (cfn.py): what it reads, what it evaluates, what it leaves as written."""

from __future__ import annotations

import pytest
import yaml

from localdev.cfn import Template, load_template, references_to

SMALL = Template(
    load_template(
        """
Parameters:
  Size: {Type: Number, Default: 60}
  Stream: {Type: String, Default: ""}
  Name: {Type: String}
Mappings:
  Seconds: {"60": {Visibility: 660}, "900": {Visibility: 5700}}
Conditions:
  HasStream: !Not [!Equals [!Ref Stream, ""]]
  Large: !Equals [!Ref Size, 900]
  Either: !Or [!Condition HasStream, !Condition Large]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !FindInMap [Seconds, !Ref Size, Visibility]
      Tags:
        - !If [HasStream, {Key: stream, Value: !Ref Stream}, !Ref AWS::NoValue]
        - {Key: name, Value: !Select [1, !Split [":", !Join [":", [a, !Ref Name]]]]}
      KmsMasterKeyId: !If [Large, alias/big, !Ref AWS::NoValue]
      QueueName: !Sub ${AWS::StackName}-${Name}
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn}
  Dlq: {Type: AWS::SQS::Queue}
"""
    )
)


def test_loader_reads_short_forms_as_long_forms() -> None:
    document = load_template(
        "A: !Ref X\nB: !GetAtt Queue.Arn\nC: !Sub 'arn:${AWS::Partition}:x'\nD: !If [C, 1, 2]\nE: !Condition C\n"
    )

    assert document == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Queue", "Arn"]},
        "C": {"Fn::Sub": "arn:${AWS::Partition}:x"},
        "D": {"Fn::If": ["C", 1, 2]},
        "E": {"Condition": "C"},
    }


def test_a_key_given_twice_in_one_mapping_is_refused_naming_it_and_its_line() -> None:
    twice = "Resources:\n  Function:\n    Properties:\n      Environment: {Variables: {A: '1'}}\n      Timeout: 3\n"
    twice += "      Environment: {Variables: {B: '2'}}\n"

    with pytest.raises(yaml.constructor.ConstructorError, match=r"found 'Environment' twice[\s\S]*line 6"):
        load_template(twice)
    assert load_template("A: {B: 1}\nC: {B: 2}\n") == {"A": {"B": 1}, "C": {"B": 2}}  # in two mappings: no clash


def test_parameter_values_are_the_defaults_then_the_overrides() -> None:
    assert SMALL.parameter_values() == {"Size": 60, "Stream": "", "Name": "1234"}
    assert SMALL.parameter_values(Stream="s")["Stream"] == "s"


def test_conditions_follow_the_parameters() -> None:
    defaults = SMALL.parameter_values()

    assert not SMALL.condition_holds("HasStream", defaults)
    assert SMALL.condition_holds("HasStream", SMALL.parameter_values(Stream="s"))
    assert SMALL.condition_holds("Large", SMALL.parameter_values(Size=900))  # compared as text, as CloudFormation does
    assert SMALL.condition_holds("Either", SMALL.parameter_values(Size=900))
    assert not SMALL.condition_holds("Either", defaults)


def test_evaluation_resolves_the_choices_and_leaves_resources_and_sub_as_written() -> None:
    queue = SMALL.resources["Queue"]["Properties"]

    evaluated = SMALL.evaluate(queue, SMALL.parameter_values(Name="orders"))

    assert evaluated == {
        "VisibilityTimeout": 660,
        "Tags": [{"Key": "name", "Value": "orders"}],  # the Fn::If item chose AWS::NoValue: it is gone
        "QueueName": {"Fn::Sub": "${AWS::StackName}-${Name}"},
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
    }
    with_stream = SMALL.evaluate(queue, SMALL.parameter_values(Stream="s", Size=900))
    assert with_stream["Tags"][0] == {"Key": "stream", "Value": "s"}
    assert with_stream["KmsMasterKeyId"] == "alias/big"
    assert with_stream["VisibilityTimeout"] == 5700


def test_chosen_keeps_the_items_the_parameters_keep_as_written() -> None:
    tags = SMALL.resources["Queue"]["Properties"]["Tags"]

    assert SMALL.chosen(tags, SMALL.parameter_values()) == [tags[1]]
    assert SMALL.chosen(tags, SMALL.parameter_values(Stream="s")) == [
        {"Key": "stream", "Value": {"Ref": "Stream"}},
        tags[1],
    ]


def test_references_are_read_from_ref_getatt_and_sub() -> None:
    expected = {"Size", "Stream", "AWS::NoValue", "Name", "AWS::StackName", "Dlq"}

    assert references_to(SMALL.resources["Queue"]) == expected  # a condition named by Fn::If is not a reference


def test_a_deployed_template_evaluates_refs_attributes_and_sub_from_what_the_stack_knows() -> None:
    deployed = SMALL.deployed({"Dlq.Arn": "arn:aws:sqs:us-east-1:123456789012:dlq", "AWS::StackName": "shop"})
    queue = SMALL.resources["Queue"]["Properties"]

    evaluated = deployed.evaluate(queue, SMALL.parameter_values(Name="orders"))

    assert evaluated["QueueName"] == "shop-orders"  # a pseudo parameter and a parameter
    assert evaluated["RedrivePolicy"] == {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"}
    assert deployed.evaluate({"Fn::Sub": ["${Q}/${!Literal}", {"Q": {"Ref": "Dlq"}}]}, {}) == {
        "Fn::Sub": ["${Q}/${!Literal}", {"Q": {"Ref": "Dlq"}}]  # the Dlq's own Ref is not known: as written
    }
    with_ref = deployed.deployed({"Dlq": "https://queue/dlq"})
    assert (
        with_ref.evaluate({"Fn::Sub": ["${Q}/${!Literal}", {"Q": {"Ref": "Dlq"}}]}, {})
        == "https://queue/dlq/${Literal}"
    )
    assert with_ref.evaluate({"Fn::Sub": "${Dlq.Arn}:*"}, {}) == "arn:aws:sqs:us-east-1:123456789012:dlq:*"
    assert SMALL.evaluate({"Fn::Sub": "${AWS::StackName}"}, {}) == {"Fn::Sub": "${AWS::StackName}"}
