class Record:
    def __init__(self, record_id, parent_id):
        self.record_id = record_id
        self.parent_id = parent_id


class Node:
    def __init__(self, node_id):
        self.node_id = node_id
        self.children = []


def BuildTree(records):
    ordered = sorted(records, key=lambda record: record.record_id)
    nodes = {}
    for index, record in enumerate(ordered):
        if record.record_id != index:
            raise ValueError("Record id is invalid or out of order.")
        if record.record_id == record.parent_id and record.record_id != 0:
            raise ValueError("Only root should have equal record and parent id.")
        if record.parent_id > record.record_id or (record.record_id == 0 and record.parent_id != 0):
            raise ValueError("Node parent_id should be smaller than its record_id.")
        nodes[record.record_id] = Node(record.record_id)
        if record.record_id != 0:
            nodes[record.parent_id].children.append(nodes[record.record_id])
    return nodes.get(0)
