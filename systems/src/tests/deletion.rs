//! Deleting a space: the people in it are told and leave, its objects leave the world with
//! no write of their own, the store is asked to delete it, and a load answered from before
//! the deletion never brings it back.

use super::*;

use crate::Index;
use crate::components::ObjectId;

#[test]
fn a_deleted_space_empties_and_a_stale_load_of_it_is_refused() {
    let mut world = Harness::new();
    world.join_new(1, 1, "doomed");
    world.join_new(2, 2, "elsewhere");
    world.step(vec![spawn_cmd(1, 1, 0.0), spawn_cmd(1, 2, 1.0)]);
    let doomed = empty_space("doomed").id;
    let (out, writes) = world.step(vec![Input::SpaceDeleted { space: doomed }]);
    assert_eq!(error_kinds(&out, 1), [ErrorKind::NotFound]);
    assert!(
        events_for(&out, 1)
            .iter()
            .any(|e| matches!(e, Event::Left { space } if *space == doomed))
    );
    assert!(
        error_kinds(&out, 2).is_empty(),
        "other spaces are untouched"
    );
    assert_eq!(writes.rows.spaces_deleted, [doomed]);
    assert!(
        writes.rows.deleted.is_empty(),
        "objects go with the space's row, not one by one"
    );
    let world_ref = world.app.world_mut();
    assert_eq!(world_ref.query::<&ObjectId>().iter(world_ref).count(), 0);
    let index = world_ref.resource::<Index>();
    assert!(index.objects.is_empty() && !index.spaces.contains_key("doomed"));

    // A join by the name asks the store again; an answer with the old id is refused.
    world.step(vec![join(1, "doomed")]);
    assert_eq!(world.load_requests(), [Arc::<str>::from("doomed")]);
    let (out, _) = world.step(vec![Input::SpaceLoaded {
        name: Arc::from("doomed"),
        result: Ok(empty_space("doomed")),
    }]);
    assert_eq!(error_kinds(&out, 1), [ErrorKind::NotFound]);
    let world_ref = world.app.world_mut();
    assert!(!world_ref.resource::<Index>().spaces.contains_key("doomed"));
}
