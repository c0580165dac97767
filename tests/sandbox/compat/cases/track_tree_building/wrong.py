# Keeps the input order (children in the order their records came) and checks nothing.
class Record:
    def __init__(self, record_id, parent_id):
        self.record_id = record_id
        self.parent_id = parent_id


class Node:
    def __init__(self, node_id):
        self.node_id = node_id
        self.children = []


def BuildTree(records):
    nodes = {record.record_id: Node(record.record_id) for record in records}
    for record in records:
        if record.record_id != record.parent_id and record.parent_id in nodes:
            nodes[record.parent_id].children.append(nodes[record.record_id])
    return nodes.get(0)
