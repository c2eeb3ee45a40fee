from tests.factories import act


def test_declaration_goes_from_draft_to_recommended(world, make_project, make_declaration):
    project = make_project(world.yandu)
    decl = make_declaration(project, world.program, by=world.staff)
    act(decl, "submit", world.staff)
    act(decl, "approve", world.reviewer)
    act(decl, "approve", world.city)
    assert decl.stage == "recommended"
    assert project.maturity == "declaring"
